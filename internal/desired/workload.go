package desired

import (
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// WorkloadName is the Workload of a gang-scheduled cluster: its name.
func WorkloadName(c *rayv1.RayCluster) string { return c.Name }

// Workload describes a gang-scheduled cluster to the scheduler: one
// template, the gang of the head and the minimum workers (see
// GangMinCount), which the cluster's PodGroup is made from. controllerRef
// points tools back at the RayCluster; the owner reference has the
// Workload deleted with it.
func Workload(c *rayv1.RayCluster) *schedulingv1beta1.Workload {
	return &schedulingv1beta1.Workload{
		TypeMeta: metav1.TypeMeta{APIVersion: schedulingv1beta1.SchemeGroupVersion.String(), Kind: "Workload"},
		ObjectMeta: metav1.ObjectMeta{
			Name:            WorkloadName(c),
			Namespace:       c.Namespace,
			Labels:          objectLabels(c.Name),
			OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
		},
		Spec: schedulingv1beta1.WorkloadSpec{
			ControllerRef: &schedulingv1beta1.TypedLocalObjectReference{
				APIGroup: rayv1.GroupVersion.Group, Kind: "RayCluster", Name: c.Name,
			},
			PodGroupTemplates: []schedulingv1beta1.PodGroupTemplate{{
				Name:             GangTemplateName,
				SchedulingPolicy: GangPolicy(c),
			}},
		},
	}
}
