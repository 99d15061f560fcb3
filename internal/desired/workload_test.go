package desired

import (
	"testing"

	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestWorkload(t *testing.T) {
	c := testCluster()
	wl := Workload(c)
	if wl.Name != c.Name || wl.Namespace != c.Namespace {
		t.Errorf("Workload %s/%s", wl.Namespace, wl.Name)
	}
	if ref := wl.Spec.ControllerRef; ref == nil || ref.APIGroup != rayv1.GroupVersion.Group || ref.Kind != "RayCluster" || ref.Name != c.Name {
		t.Errorf("controllerRef %+v", ref)
	}
	if len(wl.Spec.PodGroupTemplates) != 1 || wl.Spec.CompositePodGroupTemplates != nil {
		t.Fatalf("templates %+v: want exactly one PodGroupTemplate", wl.Spec.PodGroupTemplates)
	}
	tmpl := wl.Spec.PodGroupTemplates[0]
	if tmpl.Name != GangTemplateName {
		t.Errorf("template %q", tmpl.Name)
	}
	// head + minReplicas (1) of "small"; replicas (2) do not count.
	if got := GangMinCountOf(tmpl.SchedulingPolicy); got != 2 {
		t.Errorf("minCount %d, want 2", got)
	}
	c.Spec.WorkerGroupSpecs[0].MinReplicas = ptr.To[int32](2)
	if got := GangMinCountOf(Workload(c).Spec.PodGroupTemplates[0].SchedulingPolicy); got != 3 {
		t.Errorf("minCount after minReplicas 1 → 2: %d, want 3", got)
	}
}
