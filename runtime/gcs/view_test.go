package gcs

import (
	"context"
	"io"
	"log"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// A heartbeat from a node that has the view as of an info version gets the
// registration fields only of nodes registered after it; one with no
// version, or a version from an earlier GCS, gets them all.
func TestHeartbeatViewLeavesOutKnownRegistrations(t *testing.T) {
	s := New(Config{Logger: log.New(io.Discard, "", 0)})
	defer s.Stop()
	ctx := context.Background()
	reg := func(id string) {
		t.Helper()
		if _, err := s.RegisterNode(ctx, &rpcpb.NodeInfo{NodeId: id, Address: id + ":1", Ip: "127.0.0.1", Total: map[string]float64{"CPU": 2},
			Labels: map[string]string{"zone": "a"}}); err != nil {
			t.Fatal(err)
		}
	}
	omitted := func(v *rpcpb.ClusterView) map[string]bool {
		out := map[string]bool{}
		for _, n := range v.Nodes {
			out[n.NodeId] = n.InfoOmitted
			if n.InfoOmitted && (n.Address != "" || n.Total != nil || n.Labels != nil) {
				t.Fatalf("%s: fields sent though left out: %+v", n.NodeId, n)
			}
			if !n.InfoOmitted && (n.Address == "" || n.Total["CPU"] != 2 || n.Labels["zone"] != "a") {
				t.Fatalf("%s: fields missing: %+v", n.NodeId, n)
			}
		}
		return out
	}
	reg("n1")
	reg("n2")
	v, err := s.ReportNode(ctx, &rpcpb.NodeReport{NodeId: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if o := omitted(v); o["n1"] || o["n2"] {
		t.Fatalf("without a known version: %v, want everything", o)
	}
	known := v.InfoVersion
	reg("n3")
	v, _ = s.ReportNode(ctx, &rpcpb.NodeReport{NodeId: "n1", KnownInfoVersion: known})
	if o := omitted(v); !o["n1"] || !o["n2"] || o["n3"] {
		t.Fatalf("as of the version before n3: %v, want n1 and n2 left out, n3 whole", o)
	}
	if v.InfoVersion <= known {
		t.Fatalf("info version %d after a registration, was %d", v.InfoVersion, known)
	}
	// n2 registers again (a restarted node): whole again.
	known = v.InfoVersion
	reg("n2")
	v, _ = s.ReportNode(ctx, &rpcpb.NodeReport{NodeId: "n1", KnownInfoVersion: known})
	if o := omitted(v); !o["n1"] || o["n2"] || !o["n3"] {
		t.Fatalf("after n2 registered again: %v", o)
	}
	// A version from an earlier GCS (below this one's start).
	v, _ = s.ReportNode(ctx, &rpcpb.NodeReport{NodeId: "n1", KnownInfoVersion: s.infoBase - 5})
	if o := omitted(v); o["n1"] || o["n2"] || o["n3"] {
		t.Fatalf("with an earlier GCS's version: %v, want everything", o)
	}
	// GetNodes (the state API, drivers) always has everything.
	all, _ := s.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if o := omitted(all); o["n1"] || o["n2"] || o["n3"] {
		t.Fatalf("GetNodes: %v", o)
	}
}
