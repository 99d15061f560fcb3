package desired

import (
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// GangTemplateName is the one PodGroupTemplate of a cluster's Workload.
const GangTemplateName = "raycluster"

// PodGroupName is the PodGroup every pod of a gang-scheduled cluster points
// at (spec.schedulingGroup.podGroupName). The cluster's name: one group per
// cluster, and a pod can name it before the group exists.
func PodGroupName(c *rayv1.RayCluster) string { return c.Name }

// GangMinCount is how many pods the kube-scheduler must be able to place at
// once before it binds any: the head and the minimum of each worker group
// (minReplicas × numOfHosts; none for a suspended group).
//
// One group holds every pod of the cluster, the head and all workers of all
// groups: the cluster is all-or-nothing up to this count, which is the
// guarantee asked of gang scheduling (a cluster never half-started). Pods
// beyond it — the autoscaler's scale-ups, replicas above minReplicas — join
// a group whose quorum is already met and are placed one by one, as with
// KubeRay's Workload-API integration; a multi-host replica above the
// minimum is therefore not atomic on its own. Separate groups per worker
// group or per replica were not used: the head would then start without
// its workers, and a pod's group cannot change once it is created.
//
// The count never exceeds the pods the operator creates (minReplicas is at
// most the group's clamped replicas), so a restarted head is never held at
// the scheduler's Permit waiting for pods that will not come.
func GangMinCount(c *rayv1.RayCluster) int32 {
	n := int64(1)
	for i := range c.Spec.WorkerGroupSpecs {
		n += int64(minGangWorkers(&c.Spec.WorkerGroupSpecs[i]))
	}
	return int32(min(n, int64(1<<31-1)))
}

// minGangWorkers is a worker group's part of the gang.
func minGangWorkers(g *rayv1.WorkerGroupSpec) int32 {
	minR := int32(0)
	if g.MinReplicas != nil {
		minR = max(*g.MinReplicas, 0)
	}
	return int32(min(int64(min(minR, GroupReplicas(g)))*int64(HostsPerReplica(g)), int64(1<<31-1)))
}

// GangPolicy is the scheduling policy of the cluster's group.
func GangPolicy(c *rayv1.RayCluster) schedulingv1beta1.PodGroupSchedulingPolicy {
	return schedulingv1beta1.PodGroupSchedulingPolicy{
		Gang: &schedulingv1beta1.GangSchedulingPolicy{MinCount: GangMinCount(c)},
	}
}

// PodGroup is the runtime group of a gang-scheduled cluster, made from its
// Workload's template. Workload controllers create PodGroups themselves
// (the scheduler only reads them): the API says so of PodGroup, and the
// Job controller does the same for its Jobs.
func PodGroup(c *rayv1.RayCluster) *schedulingv1beta1.PodGroup {
	return &schedulingv1beta1.PodGroup{
		TypeMeta: metav1.TypeMeta{APIVersion: schedulingv1beta1.SchemeGroupVersion.String(), Kind: "PodGroup"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            PodGroupName(c),
			Namespace:       c.Namespace,
			Labels:          objectLabels(c.Name),
			OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
		},
		Spec: schedulingv1beta1.PodGroupSpec{
			WorkloadRef:      &schedulingv1beta1.WorkloadReference{WorkloadName: WorkloadName(c), TemplateName: GangTemplateName},
			SchedulingPolicy: GangPolicy(c),
		},
	}
}

// GangMinCountOf is the minCount of a group or template policy (0: not a gang).
func GangMinCountOf(p schedulingv1beta1.PodGroupSchedulingPolicy) int32 {
	if p.Gang == nil {
		return 0
	}
	return p.Gang.MinCount
}
