package operator

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTrimPodKeepsWhatControllersRead(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}, Annotations: map[string]string{"h": "1"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
			Name: "ray", Image: "img", Env: []corev1.EnvVar{{Name: "BIG", Value: "x"}}, Command: []string{"goray"},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "ray", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}},
	}
	out, err := trimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	if got.ManagedFields != nil || got.Spec.Containers[0].Env != nil || got.Spec.Containers[0].Command != nil {
		t.Errorf("unneeded fields kept: %+v", got)
	}
	if got.Labels["a"] != "b" || got.Annotations["h"] != "1" || got.Spec.RestartPolicy != corev1.RestartPolicyNever ||
		got.Spec.Containers[0].Name != "ray" || got.Status.PodIP != "10.0.0.1" || len(got.Status.Conditions) != 1 ||
		got.Status.ContainerStatuses[0].State.Waiting.Reason != "ImagePullBackOff" {
		t.Errorf("needed fields lost: %+v", got)
	}
}
