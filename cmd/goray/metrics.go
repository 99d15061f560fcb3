package main

import (
	"context"
	"time"

	"github.com/goray-dev/goray/runtime/gcs"
	"github.com/goray-dev/goray/runtime/metrics"
	"github.com/goray-dev/goray/runtime/node"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// nodeMetrics is the registry a node serves on its metrics port: the
// machine's ray_node_* series, its node manager's ray_resources and
// ray_object_store_*, and on the head (g != nil) the GCS's ray_tasks,
// ray_actors, ray_placement_groups and ray_cluster_*_nodes. Serve's series
// join it when the proxy and controller start (serve_start.go).
func nodeMetrics(client rpcpb.GcsClient, n *node.Node, g *gcs.Server, ip, dir string) *metrics.Registry {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	session := ""
	if st, err := client.GetClusterStatus(ctx, &rpcpb.Empty{}); err == nil {
		session = st.SessionName
	}
	reg := metrics.NewRegistry(session)
	r := reg.Registerer()
	r.MustRegister(metrics.NewHostCollector(metrics.HostConfig{IP: ip, Head: g != nil, DiskPath: dir}),
		metrics.NewRayletCollector(ip, n.GetNodeStats))
	if g != nil {
		r.MustRegister(metrics.NewGCSCollector(ip, g.MetricCounts))
	}
	return reg
}
