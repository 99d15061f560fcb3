package raycluster

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// emitTransitionEvents records an event for each condition that changed
// between the old and the new status, and nothing otherwise.
func (r *Reconciler) emitTransitionEvents(c *rayv1.RayCluster, next rayv1.RayClusterStatus) {
	for _, t := range []rayv1.RayClusterConditionType{rayv1.HeadPodReady, rayv1.RayClusterProvisioned, rayv1.RayClusterSuspended} {
		before := meta.FindStatusCondition(c.Status.Conditions, string(t))
		after := meta.FindStatusCondition(next.Conditions, string(t))
		if after == nil || (before != nil && before.Status == after.Status) {
			continue
		}
		if before == nil && after.Status != "True" {
			continue // a condition starting out false is not news
		}
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, string(t), "Status", "%s is %s: %s %s", t, after.Status, after.Reason, after.Message)
	}
	if rf := meta.FindStatusCondition(next.Conditions, string(rayv1.RayClusterReplicaFailure)); rf == nil &&
		meta.FindStatusCondition(c.Status.Conditions, string(rayv1.RayClusterReplicaFailure)) != nil {
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "ReplicaFailureResolved", "Status", "pods are created and deleted again")
	}
}
