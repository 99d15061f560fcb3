package gcs_test

import (
	"context"
	"io"
	"log"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/cluster"
	"github.com/goray-dev/goray/runtime/node"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func quiet() *log.Logger { return log.New(io.Discard, "", 0) }

type testCluster struct {
	head   *cluster.Head
	gcs    rpcpb.GcsClient
	worker *node.Node
}

func startCluster(t *testing.T) *testCluster {
	t.Helper()
	h, err := cluster.StartHead(cluster.HeadConfig{HeartbeatTimeout: 5 * time.Second,
		Node: node.Config{IP: "127.0.0.1", Resources: map[string]float64{"CPU": 0}, Logger: quiet(), HeartbeatInterval: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	w, err := node.Start(node.Config{IP: "127.0.0.2", GcsAddress: h.GcsAddress, Resources: map[string]float64{"CPU": 1},
		InstanceID: "pod-a", NodeTypeName: "cpu", Logger: quiet(), HeartbeatInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	conn, err := grpc.NewClient(h.GcsAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &testCluster{head: h, gcs: rpcpb.NewGcsClient(conn), worker: w}
}

func (c *testCluster) nodeView(t *testing.T, id string) *rpcpb.NodeView {
	st, err := c.gcs.GetClusterStatus(context.Background(), &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if n.NodeId == id {
			return n
		}
	}
	t.Fatalf("node %s not in the cluster status", id)
	return nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestDrainNodeRejectsBusyAcceptsIdle(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	id := c.worker.ID()
	idle := &rpcpb.DrainNodeRequest{NodeId: id, Reason: rpcpb.DrainReason_IDLE_TERMINATION, ReasonMessage: "idle"}

	// The head is never drained.
	rep, err := c.gcs.DrainNode(ctx, &rpcpb.DrainNodeRequest{NodeId: c.head.Node.ID(), Reason: rpcpb.DrainReason_PREEMPTION})
	if err != nil || rep.IsAccepted {
		t.Fatalf("drain head = %v, %v; want rejected", rep, err)
	}
	// An object in the store makes the node busy.
	_ = c.worker.Store.Put("obj1", []byte("x"))
	rep, err = c.gcs.DrainNode(ctx, idle)
	if err != nil || rep.IsAccepted || !strings.Contains(rep.RejectionReasonMessage, "1 object(s) in its store") {
		t.Fatalf("drain busy node = %v, %v; want rejected for its object", rep, err)
	}
	if c.nodeView(t, id).Status == "DRAINING" {
		t.Fatal("rejected drain marked the node DRAINING")
	}
	c.worker.Store.Delete("obj1")

	// Idle now: accepted, DRAINING, no new work, and it leaves at the deadline.
	idle.DeadlineTimestampMs = time.Now().Add(300 * time.Millisecond).UnixMilli()
	rep, err = c.gcs.DrainNode(ctx, idle)
	if err != nil || !rep.IsAccepted {
		t.Fatalf("drain idle node = %v, %v; want accepted", rep, err)
	}
	if s := c.nodeView(t, id).Status; s != "DRAINING" {
		t.Fatalf("status = %s, want DRAINING", s)
	}
	conn, _ := grpc.NewClient(c.worker.Address(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	lrep, err := rpcpb.NewNodeManagerClient(conn).RequestWorkerLease(ctx, &rpcpb.LeaseRequest{JobId: "j", Resources: map[string]float64{"CPU": 1}, GrantOrReject: true})
	if err != nil || !lrep.Rejected || !strings.Contains(lrep.Message, "draining") {
		t.Fatalf("lease on draining node = %v, %v; want rejected", lrep, err)
	}
	select {
	case <-c.worker.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("drained node did not finish at its deadline")
	}
	v := c.nodeView(t, id)
	if v.Alive || v.Status != "DEAD" || !strings.Contains(v.DeathReason, "drained") {
		t.Fatalf("after the deadline node = alive %v status %s death %q; want DEAD, drained", v.Alive, v.Status, v.DeathReason)
	}
}

func TestDrainNodePreemptionIgnoresBusy(t *testing.T) {
	c := startCluster(t)
	_ = c.worker.Store.Put("obj1", []byte("x"))
	rep, err := c.gcs.DrainNode(context.Background(), &rpcpb.DrainNodeRequest{NodeId: c.worker.ID(), Reason: rpcpb.DrainReason_PREEMPTION})
	if err != nil || !rep.IsAccepted {
		t.Fatalf("preemption drain = %v, %v; want accepted", rep, err)
	}
}

// headNodeManager is a client of the head's node manager, closed with the test.
func (c *testCluster) headNodeManager(t *testing.T) rpcpb.NodeManagerClient {
	conn, err := grpc.NewClient(c.head.Node.Address(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return rpcpb.NewNodeManagerClient(conn)
}

func TestClusterStatusDemandConstraintsAndAutoscalingState(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nm := c.headNodeManager(t)
	// Two requests no node can hold queue on the head and show as infeasible demand.
	for range 2 {
		go func() {
			_, _ = nm.RequestWorkerLease(ctx, &rpcpb.LeaseRequest{JobId: "j", Resources: map[string]float64{"CPU": 8}})
		}()
	}
	eventually(t, "pending infeasible demand", func() bool {
		st, err := c.gcs.GetClusterStatus(ctx, &rpcpb.Empty{})
		return err == nil && len(st.Pending) == 1 && st.Pending[0].Count == 2 && st.Pending[0].Infeasible && st.Pending[0].Shape["CPU"] == 8
	})
	if _, err := c.gcs.RequestClusterResourceConstraint(ctx, &rpcpb.ResourceConstraint{Requests: []*rpcpb.ResourceDemand{{Shape: map[string]float64{"CPU": 1}, Count: 3}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.gcs.ReportAutoscalingState(ctx, &rpcpb.AutoscalingState{ClusterName: "rc", LastDecision: "scale up cpu 1→4"}); err != nil {
		t.Fatal(err)
	}
	st, err := c.gcs.GetClusterStatus(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Constraints) != 1 || st.Constraints[0].Count != 3 {
		t.Errorf("constraints = %v", st.Constraints)
	}
	if st.AutoscalingState.GetLastDecision() != "scale up cpu 1→4" {
		t.Errorf("autoscaling state = %v", st.AutoscalingState)
	}
	w := c.nodeView(t, c.worker.ID())
	if w.InstanceId != "pod-a" || w.NodeTypeName != "cpu" || w.Total["CPU"] != 1 {
		t.Errorf("worker view = %v", w)
	}
	eventually(t, "the idle worker reporting IDLE with an idle duration", func() bool {
		w := c.nodeView(t, c.worker.ID())
		return w.Status == "IDLE" && w.IdleDurationMs > 0
	})
	cancel()
	eventually(t, "the demand going away", func() bool {
		st, err := c.gcs.GetClusterStatus(context.Background(), &rpcpb.Empty{})
		return err == nil && len(st.Pending) == 0
	})
}

// Demand with a label selector is its own line of the cluster status, with
// its selector, infeasible while no node's labels match (the autoscaler
// then launches only a group whose labels do).
func TestClusterStatusDemandKeepsLabelSelectors(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	nm := c.headNodeManager(t)
	for _, sel := range []map[string]string{{"zone": "b"}, {"zone": "b"}, {"zone": "in(b,c)"}} {
		go func() {
			_, _ = nm.RequestWorkerLease(ctx, &rpcpb.LeaseRequest{JobId: "j", Resources: map[string]float64{"CPU": 1},
				Strategy: &rpcpb.SchedulingStrategy{LabelSelector: sel}})
		}()
	}
	eventually(t, "two lines of infeasible demand, by selector", func() bool {
		st, err := c.gcs.GetClusterStatus(ctx, &rpcpb.Empty{})
		if err != nil || len(st.Pending) != 2 {
			return false
		}
		got := map[string]int64{}
		for _, d := range st.Pending {
			if !d.Infeasible || d.Shape["CPU"] != 1 {
				return false
			}
			got[d.LabelSelector["zone"]] = d.Count
		}
		return got["b"] == 2 && got["in(b,c)"] == 1
	})
	if _, err := nm.RequestWorkerLease(ctx, &rpcpb.LeaseRequest{JobId: "j", Resources: map[string]float64{"CPU": 1},
		Strategy: &rpcpb.SchedulingStrategy{LabelSelector: map[string]string{"zone": "in(b"}}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a malformed selector: %v, want InvalidArgument", err)
	}
}
