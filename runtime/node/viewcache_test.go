package node

import (
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// The cache fills the fields a heartbeat's view leaves out, and asks for
// everything again (known 0) when the view leaves out a node it never saw
// whole.
func TestViewCacheFillsLeftOutFields(t *testing.T) {
	var c viewCache
	whole := &rpcpb.ClusterView{InfoVersion: 10, Nodes: []*rpcpb.NodeView{
		{NodeId: "a", Address: "a:1", Total: map[string]float64{"CPU": 2}, Labels: map[string]string{"zone": "x"}, Available: map[string]float64{"CPU": 2}},
		{NodeId: "b", Address: "b:1", Total: map[string]float64{"CPU": 4}, Available: map[string]float64{"CPU": 4}},
	}}
	c.merge(whole)
	if c.known != 10 {
		t.Fatalf("known %d after a whole view, want 10", c.known)
	}
	delta := &rpcpb.ClusterView{InfoVersion: 10, Nodes: []*rpcpb.NodeView{
		{NodeId: "a", InfoOmitted: true, Available: map[string]float64{"CPU": 1}},
		{NodeId: "b", InfoOmitted: true, Available: map[string]float64{"CPU": 0}},
	}}
	nodes := c.merge(delta)
	if nodes[0].Address != "a:1" || nodes[0].Total["CPU"] != 2 || nodes[0].Labels["zone"] != "x" || nodes[0].Available["CPU"] != 1 || nodes[0].InfoOmitted {
		t.Fatalf("a after the delta: %+v", nodes[0])
	}
	if nodes[1].Address != "b:1" || nodes[1].Available["CPU"] != 0 {
		t.Fatalf("b after the delta: %+v", nodes[1])
	}
	// b is gone from the cluster: forgotten. c is left out though never seen.
	odd := &rpcpb.ClusterView{InfoVersion: 12, Nodes: []*rpcpb.NodeView{
		{NodeId: "a", InfoOmitted: true},
		{NodeId: "c", InfoOmitted: true},
	}}
	c.merge(odd)
	if c.known != 0 {
		t.Fatalf("known %d after a view leaving out an unknown node, want 0 (ask for everything)", c.known)
	}
	if _, ok := c.info["b"]; ok {
		t.Fatal("b, gone from the view, still cached")
	}
	c.reset()
	if c.known != 0 || c.info != nil {
		t.Fatal("reset kept something")
	}
}
