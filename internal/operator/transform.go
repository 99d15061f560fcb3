package operator

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
)

// trimPod keeps, of a cached pod, only what the controllers read: metadata,
// the restart policy and node, the containers' names and images, and the
// status. Env, probes, volumes and the rest of the spec are most of a pod's
// size and are never read from the cache, so an operator watching
// thousands of pods holds a fraction of the memory.
func trimPod(obj any) (any, error) {
	obj, err := cache.TransformStripManagedFields()(obj)
	if err != nil {
		return obj, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	containers := make([]corev1.Container, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		containers[i] = corev1.Container{Name: c.Name, Image: c.Image}
	}
	pod.Spec = corev1.PodSpec{
		RestartPolicy:      pod.Spec.RestartPolicy,
		NodeName:           pod.Spec.NodeName,
		ServiceAccountName: pod.Spec.ServiceAccountName,
		Containers:         containers,
		// The gang phase keeps a cluster's PodGroup while a pod names it.
		SchedulingGroup: pod.Spec.SchedulingGroup,
	}
	status := corev1.PodStatus{
		Phase:      pod.Status.Phase,
		Conditions: pod.Status.Conditions,
		PodIP:      pod.Status.PodIP,
		Reason:     pod.Status.Reason,
		Message:    pod.Status.Message,
		StartTime:  pod.Status.StartTime,
	}
	for _, cs := range pod.Status.ContainerStatuses {
		status.ContainerStatuses = append(status.ContainerStatuses, corev1.ContainerStatus{
			Name: cs.Name, State: cs.State, Ready: cs.Ready, RestartCount: cs.RestartCount,
		})
	}
	pod.Status = status
	return pod, nil
}
