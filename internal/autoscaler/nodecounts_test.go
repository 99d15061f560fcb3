package autoscaler

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/autoscaler/planner"
)

func TestCountNodes(t *testing.T) {
	in := planner.Input{
		Types: []planner.NodeType{
			{Name: "small", Resources: planner.Resources{"CPU": 1}, Replicas: 2},
			{Name: "multi", Resources: planner.Resources{"CPU": 4, "GPU": 1}, Replicas: 1, NumOfHosts: 2},
			{Name: "idle", Resources: planner.Resources{"CPU": 8}},
		},
		Nodes: []planner.Node{
			{Pod: "head", NodeID: "n0", Type: rayv1.HeadGroupName, IsHead: true, Total: planner.Resources{"CPU": 2}},
			{Pod: "small-a", NodeID: "n1", Type: "small", Total: planner.Resources{"CPU": 1}},
			{Pod: "small-b", Type: "small"}, // created, not registered yet
			{Pod: "multi-a", NodeID: "n2", Type: "multi", Total: planner.Resources{"CPU": 4, "GPU": 1}},
		},
	}
	failed := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{rayv1.RayNodeGroupLabelKey: "small"}}, Status: corev1.PodStatus{Phase: corev1.PodFailed}},
		{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{rayv1.RayNodeGroupLabelKey: "small"}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
	}
	// The round raises small to 3: one more pending node than pods.
	c := CountNodes(in, map[string]int32{"small": 3}, failed)
	check := func(what string, got, want map[string]int32) {
		t.Helper()
		if !maps.Equal(got, want) {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("active", c.Active, map[string]int32{rayv1.HeadGroupName: 1, "small": 1, "multi": 1, "idle": 0})
	// small: 3 wanted, 1 registered, 1 pod starting, 1 not created: 2
	// pending; multi: one replica of two hosts, one registered: 1 pending.
	check("pending", c.Pending, map[string]int32{rayv1.HeadGroupName: 0, "small": 2, "multi": 1, "idle": 0})
	check("failed", c.Failed, map[string]int32{rayv1.HeadGroupName: 0, "small": 1, "multi": 0, "idle": 0})
	if want := map[string]float64{"CPU": 7, "GPU": 1}; !maps.Equal(c.ClusterResources, want) {
		t.Errorf("cluster resources %v, want %v", c.ClusterResources, want)
	}
	if want := map[string]float64{"CPU": 6, "GPU": 1}; !maps.Equal(c.PendingResources, want) {
		t.Errorf("pending resources %v, want %v", c.PendingResources, want)
	}
}
