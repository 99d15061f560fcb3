package desired

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// RedisCleanupJob removes a deleted fault-tolerant cluster's keys from
// Redis, with the head's image and Redis settings.
func RedisCleanupJob(c *rayv1.RayCluster) *batchv1.Job {
	head := c.Spec.HeadGroupSpec.Template.Spec.DeepCopy()
	image := ""
	var pullPolicy corev1.PullPolicy
	var pullSecrets []corev1.LocalObjectReference
	if len(head.Containers) > 0 {
		image, pullPolicy = head.Containers[0].Image, head.Containers[0].ImagePullPolicy
	}
	pullSecrets = head.ImagePullSecrets
	labels := objectLabels(c.Name)
	labels[rayv1.RayNodeTypeLabelKey] = string(rayv1.RedisCleanupNode)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            c.Name + "-redis-cleanup",
			Namespace:       c.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](2),
			ActiveDeadlineSeconds: ptr.To[int64](300),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:    corev1.RestartPolicyNever,
					ImagePullSecrets: pullSecrets,
					Containers: []corev1.Container{{
						Name:            "redis-cleanup",
						Image:           image,
						ImagePullPolicy: pullPolicy,
						Command:         []string{RuntimeBinary, "gcs-cleanup", "--redis-address=$(RAY_REDIS_ADDRESS)", "--namespace=$(RAY_external_storage_namespace)"},
						Env:             gcsFaultToleranceEnv(c),
					}},
				},
			},
		},
	}
	hardenContainers(&job.Spec.Template.Spec, func(int, *corev1.Container) bool { return true })
	return job
}
