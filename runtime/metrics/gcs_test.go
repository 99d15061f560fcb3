package metrics

import (
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/taskevents"
)

func TestGCSCollector(t *testing.T) {
	counts := func() ClusterCounts {
		return ClusterCounts{
			Tasks: map[taskevents.StateCount]int{
				{Name: "square", State: "FINISHED"}:             4,
				{Name: "square", State: "RUNNING", Retry: true}: 1,
			},
			Actors:          map[ActorCount]int{{Name: "Counter", State: "ALIVE"}: 2, {Name: "Counter", State: "DEAD"}: 1},
			PlacementGroups: map[string]int{"CREATED": 1},
			ActiveNodes:     map[string]int{"headgroup": 1, "workers": 2},
			FailedNodes:     map[string]int{"workers": 1},
			Autoscaler: &AutoscalerCounts{Active: map[string]int32{"headgroup": 1, "workers": 2}, Pending: map[string]int32{"workers": 3},
				Failed: map[string]int32{"workers": 0}, ClusterResources: map[string]float64{"CPU": 6},
				PendingResources: map[string]float64{"CPU": 6, "memory": 3e9}},
		}
	}
	fams := gather(t, NewGCSCollector("10.0.0.1", counts))
	core := []string{"Component=gcs_server", "NodeAddress=10.0.0.1"}
	for _, c := range []struct {
		name string
		want float64
		ls   []string
	}{
		{"ray_tasks", 4, append([]string{"Name=square", "State=FINISHED", "IsRetry=0"}, core...)},
		{"ray_tasks", 1, append([]string{"Name=square", "State=RUNNING", "IsRetry=1"}, core...)},
		{"ray_actors", 2, append([]string{"Name=Counter", "State=ALIVE", "Source=gcs"}, core...)},
		{"ray_actors", 1, append([]string{"Name=Counter", "State=DEAD", "Source=gcs"}, core...)},
		{"ray_placement_groups", 1, append([]string{"State=CREATED"}, core...)},
		{"ray_cluster_active_nodes", 2, []string{"node_type=workers"}},
		{"ray_cluster_active_nodes", 1, []string{"node_type=headgroup"}},
		{"ray_cluster_failed_nodes", 1, []string{"node_type=workers"}},
		{"ray_cluster_failed_nodes", 0, []string{"node_type=headgroup"}},
		{"autoscaler_active_nodes", 2, []string{"NodeType=workers"}},
		{"autoscaler_active_nodes", 1, []string{"NodeType=headgroup"}},
		{"autoscaler_pending_nodes", 3, []string{"NodeType=workers"}},
		{"autoscaler_recently_failed_nodes", 0, []string{"NodeType=workers"}},
		{"autoscaler_cluster_resources", 6, []string{"resource=CPU"}},
		{"autoscaler_pending_resources", 3e9, []string{"resource=memory"}},
	} {
		if got := value(t, fams, c.name, c.ls...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.ls, got, c.want)
		}
	}
}

// Without an autoscaler's report there are no autoscaler_* series.
func TestGCSCollectorWithoutAutoscaler(t *testing.T) {
	fams := gather(t, NewGCSCollector("10.0.0.1", func() ClusterCounts { return ClusterCounts{ActiveNodes: map[string]int{"headgroup": 1}} }))
	for name := range fams {
		if strings.HasPrefix(name, "autoscaler_") {
			t.Errorf("%s exported without an autoscaler", name)
		}
	}
	if len(fams) == 0 {
		t.Fatal("nothing gathered")
	}
}
