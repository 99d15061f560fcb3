package cluster

import (
	"context"
	"time"

	"github.com/goray-dev/goray/runtime/metrics"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// nodeMetrics is the registry a node serves on its metrics port: the
// machine's ray_node_* series, its node manager's ray_resources and
// ray_object_store_*, and on the head the GCS's ray_tasks, ray_actors,
// ray_placement_groups and ray_cluster_*_nodes. Serve's series join it
// when the proxy and controller start (serve.go).
func (c *Cluster) nodeMetrics() *metrics.Registry {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	session := ""
	if st, err := c.gcs.GetClusterStatus(ctx, &rpcpb.Empty{}); err == nil {
		session = st.SessionName
	}
	reg := metrics.NewRegistry(session)
	r := reg.Registerer()
	r.MustRegister(metrics.NewHostCollector(metrics.HostConfig{IP: c.ip, Head: c.GCS != nil, DiskPath: c.cfg.Node.Dir}),
		metrics.NewRayletCollector(c.ip, c.Node.GetNodeStats))
	if c.GCS != nil {
		r.MustRegister(metrics.NewGCSCollector(c.ip, c.GCS.MetricCounts))
	}
	return reg
}
