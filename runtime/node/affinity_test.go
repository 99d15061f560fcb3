package node

import (
	"context"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/internal/ids"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// A lease pinned (hard affinity) to a node that registered after this
// node's last view is spilled there, not rejected: the node asks the GCS
// for the view before it calls the target unknown. A node the GCS does not
// know either is still rejected at once.
func TestHardAffinityToANodeJustJoined(t *testing.T) {
	_, addr, _ := gcsOn(t, "", nil)
	// Heartbeats an hour apart: the view is the one from registering.
	n, err := Start(Config{GcsAddress: addr, Resources: map[string]float64{"CPU": 1}, Dir: t.TempDir(),
		HeartbeatInterval: time.Hour, Logger: quiet, StoreCapacity: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := n.pool.Get(addr)
	if err != nil {
		t.Fatal(err)
	}
	other := ids.New()
	if _, err := rpcpb.NewGcsClient(conn).RegisterNode(ctx, &rpcpb.NodeInfo{NodeId: other, Address: "127.0.0.1:1", Ip: "127.0.0.1",
		Total: map[string]float64{"CPU": 4}}); err != nil {
		t.Fatal(err)
	}
	// Its heartbeat, so the GCS lists its resources as available.
	if _, err := rpcpb.NewGcsClient(conn).ReportNode(ctx, &rpcpb.NodeReport{NodeId: other, Available: map[string]float64{"CPU": 4}}); err != nil {
		t.Fatal(err)
	}
	ask := func(node string) *rpcpb.LeaseReply {
		rep, err := n.RequestWorkerLease(ctx, &rpcpb.LeaseRequest{JobId: "01000000", Resources: map[string]float64{"CPU": 1},
			Strategy: &rpcpb.SchedulingStrategy{Kind: rpcpb.SchedulingStrategy_NODE_AFFINITY, NodeId: node}})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := ask(other); rep.SpillbackNodeId != other || rep.SpillbackAddress != "127.0.0.1:1" {
		t.Fatalf("pinned to a node that joined after the view: %+v, want a spillback to it", rep)
	}
	if rep := ask(ids.New()); !rep.Rejected {
		t.Fatalf("pinned to a node nobody knows: %+v, want a rejection", rep)
	}
}
