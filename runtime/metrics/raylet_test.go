package metrics

import (
	"context"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestRayletCollector(t *testing.T) {
	stats := func(context.Context, *rpcpb.Empty) (*rpcpb.NodeStats, error) {
		return &rpcpb.NodeStats{StoreUsed: 300, StoreCapacity: 1000, NumObjects: 3, SpilledBytes: 50,
			Total: map[string]float64{"CPU": 4, "memory": 8e9}, Available: map[string]float64{"CPU": 1.5, "memory": 8e9}}, nil
	}
	fams := gather(t, NewRayletCollector("10.0.0.7", stats))
	core := []string{"Component=raylet", "NodeAddress=10.0.0.7"}
	for _, c := range []struct {
		name string
		want float64
		ls   []string
	}{
		{"ray_resources", 2.5, []string{"Name=CPU", "State=USED"}},
		{"ray_resources", 1.5, []string{"Name=CPU", "State=AVAILABLE"}},
		{"ray_resources", 0, []string{"Name=memory", "State=USED"}},
		{"ray_resources", 300, []string{"Name=object_store_memory", "State=USED"}},
		{"ray_resources", 700, []string{"Name=object_store_memory", "State=AVAILABLE"}},
		{"ray_object_store_memory", 300, []string{"Location=MMAP_SHM", "ObjectState=SEALED"}},
		{"ray_object_store_memory", 50, []string{"Location=SPILLED", "ObjectState=SEALED"}},
		{"ray_object_store_num_local_objects", 3, nil},
		{"ray_object_store_used_memory", 300, nil},
		{"ray_object_store_available_memory", 700, nil},
	} {
		if got := value(t, fams, c.name, append(c.ls, core...)...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.ls, got, c.want)
		}
	}
}
