package gcs

import (
	"context"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestMetricCountsNodes(t *testing.T) {
	s := New(Config{})
	defer s.Stop()
	ctx := context.Background()
	for _, n := range []*rpcpb.NodeInfo{
		{Address: "127.0.0.1:1", Ip: "127.0.0.1", IsHead: true, NodeTypeName: "headgroup", Total: map[string]float64{"CPU": 1}},
		{Address: "127.0.0.2:1", Ip: "127.0.0.2", NodeTypeName: "small", Total: map[string]float64{"CPU": 1}},
		{Address: "127.0.0.3:1", Ip: "127.0.0.3", NodeTypeName: "small", Total: map[string]float64{"CPU": 1}},
		{Address: "127.0.0.4:1", Ip: "127.0.0.4", Total: map[string]float64{"CPU": 1}},
	} {
		reg, err := s.RegisterNode(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		n.NodeId = reg.NodeId
	}
	// As death detection marks a silent node.
	s.mu.Lock()
	for _, n := range s.nodes {
		if n.info.Address == "127.0.0.3:1" {
			n.alive = false
		}
	}
	s.mu.Unlock()
	c := s.MetricCounts()
	if c.ActiveNodes["headgroup"] != 1 || c.ActiveNodes["small"] != 1 || c.ActiveNodes["worker"] != 1 || c.FailedNodes["small"] != 1 {
		t.Errorf("active %v failed %v; want headgroup 1, small 1, worker (no type) 1; small 1 failed", c.ActiveNodes, c.FailedNodes)
	}
	if len(c.Tasks) != 0 || len(c.Actors) != 0 || len(c.PlacementGroups) != 0 {
		t.Errorf("counts of an idle cluster: %+v", c)
	}
}
