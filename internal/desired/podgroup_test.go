package desired

import (
	"testing"

	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestGangMinCount(t *testing.T) {
	multiHost := func(minR, replicas, hosts int32) rayv1.WorkerGroupSpec {
		return rayv1.WorkerGroupSpec{GroupName: "tpu", MinReplicas: ptr.To(minR), Replicas: ptr.To(replicas), MaxReplicas: ptr.To[int32](10), NumOfHosts: hosts}
	}
	for _, tc := range []struct {
		name   string
		groups []rayv1.WorkerGroupSpec
		want   int32
	}{
		{"head only", nil, 1},
		{"minReplicas, not replicas", []rayv1.WorkerGroupSpec{multiHost(1, 3, 0)}, 2},
		{"no minReplicas", []rayv1.WorkerGroupSpec{{GroupName: "a", Replicas: ptr.To[int32](2)}}, 1},
		{"multi-host: min × hosts", []rayv1.WorkerGroupSpec{multiHost(2, 2, 4)}, 9},
		{"groups add up", []rayv1.WorkerGroupSpec{multiHost(1, 1, 1), multiHost(2, 5, 2)}, 6},
		{"suspended group counts none", []rayv1.WorkerGroupSpec{{GroupName: "s", MinReplicas: ptr.To[int32](3), Suspend: ptr.To(true)}}, 1},
		{"minReplicas above maxReplicas: the pods the operator creates", []rayv1.WorkerGroupSpec{{GroupName: "m", MinReplicas: ptr.To[int32](3), MaxReplicas: ptr.To[int32](1)}}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster()
			c.Spec.WorkerGroupSpecs = tc.groups
			if got := GangMinCount(c); got != tc.want {
				t.Errorf("GangMinCount = %d, want %d", got, tc.want)
			}
			// The gang never asks for more pods than the operator creates.
			if created := 1 + CountWorkers(c).Desired; GangMinCount(c) > created {
				t.Errorf("GangMinCount %d > pods created %d", GangMinCount(c), created)
			}
		})
	}
}

func TestPodGroupIsMadeFromTheWorkloadTemplate(t *testing.T) {
	c := testCluster()
	c.Spec.WorkerGroupSpecs[0].NumOfHosts = 2
	pg, wl := PodGroup(c), Workload(c)
	if pg.Name != PodGroupName(c) || pg.Namespace != c.Namespace {
		t.Errorf("PodGroup %s/%s", pg.Namespace, pg.Name)
	}
	ref := pg.Spec.WorkloadRef
	if ref == nil || ref.WorkloadName != wl.Name || ref.TemplateName != wl.Spec.PodGroupTemplates[0].Name {
		t.Fatalf("workloadRef %+v does not name the Workload %s's template", ref, wl.Name)
	}
	if got, want := GangMinCountOf(pg.Spec.SchedulingPolicy), int32(3); got != want {
		t.Errorf("PodGroup minCount %d, want %d (head + 1 replica × 2 hosts)", got, want)
	}
	if GangMinCountOf(wl.Spec.PodGroupTemplates[0].SchedulingPolicy) != GangMinCountOf(pg.Spec.SchedulingPolicy) {
		t.Error("the PodGroup's policy differs from its template's")
	}
	if pg.Spec.SchedulingPolicy.Basic != nil {
		t.Error("a gang group has no basic policy (exactly one must be set)")
	}
	for _, o := range []struct {
		kind string
		refs int
		ctl  bool
	}{{"PodGroup", len(pg.OwnerReferences), *pg.OwnerReferences[0].Controller}, {"Workload", len(wl.OwnerReferences), *wl.OwnerReferences[0].Controller}} {
		if o.refs != 1 || !o.ctl {
			t.Errorf("%s: owner references %d, controller %v: want the RayCluster as controller", o.kind, o.refs, o.ctl)
		}
	}
	if pg.Labels[rayv1.RayClusterLabelKey] != c.Name || pg.Labels[rayv1.KubernetesCreatedByLabelKey] != rayv1.ComponentName {
		t.Errorf("PodGroup labels %v: the operator's cache selects on created-by", pg.Labels)
	}
}
