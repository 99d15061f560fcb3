package desired

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// testCluster is a small valid cluster: a head and one worker group "small".
func testCluster() *rayv1.RayCluster {
	return &rayv1.RayCluster{
		TypeMeta: metav1.TypeMeta{APIVersion: "ray.io/v1", Kind: "RayCluster"},
		ObjectMeta: metav1.ObjectMeta{
			Name:       "demo",
			Namespace:  "ns1",
			UID:        "uid-1234",
			Generation: 3,
		},
		Spec: rayv1.RayClusterSpec{
			HeadGroupSpec: rayv1.HeadGroupSpec{
				RayStartParams: map[string]string{},
				Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray-head", Image: "goray:1"}}},
				},
			},
			WorkerGroupSpecs: []rayv1.WorkerGroupSpec{{
				GroupName:      "small",
				Replicas:       ptr.To[int32](2),
				MinReplicas:    ptr.To[int32](1),
				MaxReplicas:    ptr.To[int32](5),
				RayStartParams: map[string]string{},
				Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray-worker", Image: "goray:1"}}},
				},
			}},
		},
	}
}

func limits(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func findEnv(t *testing.T, env []corev1.EnvVar, name string) (corev1.EnvVar, bool) {
	t.Helper()
	n := 0
	var found corev1.EnvVar
	for _, e := range env {
		if e.Name == name {
			n++
			found = e
		}
	}
	if n > 1 {
		t.Errorf("env %s defined %d times", name, n)
	}
	return found, n == 1
}

func mustEnv(t *testing.T, env []corev1.EnvVar, name string) corev1.EnvVar {
	t.Helper()
	e, ok := findEnv(t, env, name)
	if !ok {
		t.Fatalf("env %s missing; have %v", name, envNames(env))
	}
	return e
}

func envNames(env []corev1.EnvVar) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		out = append(out, e.Name)
	}
	return out
}

func findPort(ports []corev1.ContainerPort, name string) (corev1.ContainerPort, bool) {
	i := slices.IndexFunc(ports, func(p corev1.ContainerPort) bool { return p.Name == name })
	if i < 0 {
		return corev1.ContainerPort{}, false
	}
	return ports[i], true
}

func container(t *testing.T, pod *corev1.Pod, name string) *corev1.Container {
	t.Helper()
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	t.Fatalf("container %q missing", name)
	return nil
}

func checkOwner(t *testing.T, refs []metav1.OwnerReference, c *rayv1.RayCluster) {
	t.Helper()
	if len(refs) != 1 {
		t.Fatalf("owner references = %d, want 1", len(refs))
	}
	r := refs[0]
	if r.Kind != "RayCluster" || r.APIVersion != "ray.io/v1" || r.Name != c.Name || r.UID != c.UID {
		t.Errorf("owner = %+v, want RayCluster ray.io/v1 %s %s", r, c.Name, c.UID)
	}
	if r.Controller == nil || !*r.Controller {
		t.Errorf("owner controller = %v, want true", r.Controller)
	}
	if r.BlockOwnerDeletion == nil || !*r.BlockOwnerDeletion {
		t.Errorf("owner blockOwnerDeletion = %v, want true", r.BlockOwnerDeletion)
	}
}

func checkObjectLabels(t *testing.T, got map[string]string, cluster string) {
	t.Helper()
	for k, v := range map[string]string{
		rayv1.RayClusterLabelKey:           cluster,
		rayv1.KubernetesApplicationNameKey: "kuberay",
		rayv1.KubernetesCreatedByLabelKey:  "goray-operator",
	} {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q", k, got[k], v)
		}
	}
}
