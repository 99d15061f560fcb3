package metrics

import (
	"context"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// NodeStatsFunc reads a node manager's resources and object store (the
// node's own GetNodeStats, called in-process).
type NodeStatsFunc func(ctx context.Context, _ *rpcpb.Empty) (*rpcpb.NodeStats, error)

// rayletCollector reports what Ray's raylet does: logical resources by
// state and the object store.
type rayletCollector struct {
	stats NodeStatsFunc

	resources, storeMem, storeObjs, storeAvail, storeUsed *prometheus.Desc
}

// NewRayletCollector reports a node's ray_resources and ray_object_store_*
// series; ip is the node's address (Ray's NodeAddress label).
func NewRayletCollector(ip string, stats NodeStatsFunc) prometheus.Collector {
	constant := prometheus.Labels{LabelComponent: "raylet", LabelNodeAddress: ip}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, constant)
	}
	return &rayletCollector{stats: stats,
		resources: d("ray_resources", "Logical resources of the node: USED or AVAILABLE quantity of each resource (Name).", "Name", "State"),
		storeMem: d("ray_object_store_memory", "Object store memory by location (MMAP_SHM in memory, SPILLED on disk), in bytes.",
			"Location", "ObjectState"),
		storeObjs:  d("ray_object_store_num_local_objects", "Number of objects in the node's object store."),
		storeAvail: d("ray_object_store_available_memory", "Object store memory not in use, in bytes."),
		storeUsed:  d("ray_object_store_used_memory", "Object store memory in use, in bytes."),
	}
}

func (c *rayletCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.resources, c.storeMem, c.storeObjs, c.storeAvail, c.storeUsed} {
		ch <- d
	}
}

func (c *rayletCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.stats(context.Background(), &rpcpb.Empty{})
	if err != nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	names := make([]string, 0, len(st.Total))
	for n := range st.Total {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		total, avail := st.Total[n], st.Available[n]
		gauge(c.resources, avail, n, "AVAILABLE")
		gauge(c.resources, total-avail, n, "USED")
	}
	// The store is Ray's object_store_memory resource: dashboards plot
	// ray_resources{Name="object_store_memory"} as the store's capacity.
	if st.StoreCapacity > 0 {
		used := min(st.StoreUsed, st.StoreCapacity)
		gauge(c.resources, float64(st.StoreCapacity-used), "object_store_memory", "AVAILABLE")
		gauge(c.resources, float64(used), "object_store_memory", "USED")
	}
	// Objects are sealed once stored: goray has no unsealed objects.
	gauge(c.storeMem, float64(st.StoreUsed), "MMAP_SHM", "SEALED")
	gauge(c.storeMem, float64(st.SpilledBytes), "SPILLED", "SEALED")
	gauge(c.storeObjs, float64(st.NumObjects))
	gauge(c.storeAvail, float64(max(st.StoreCapacity-st.StoreUsed, 0)))
	gauge(c.storeUsed, float64(st.StoreUsed))
}
