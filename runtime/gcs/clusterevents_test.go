package gcs

import (
	"context"
	"io"
	"log"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/actors"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestClusterEventsRecorded: the GCS records what it learns — a node
// registering and leaving, a worker crashing, a driver's job, the autoscaler's
// decisions (once each) — and stores the job manager's events only when a
// whole batch is valid.
func TestClusterEventsRecorded(t *testing.T) {
	ctx := context.Background()
	s := New(Config{Logger: log.New(io.Discard, "", 0)})
	defer s.Stop()
	list := func(filters ...*rpcpb.TaskFilter) []string {
		t.Helper()
		l, err := s.ListClusterEvents(ctx, &rpcpb.ListClusterEventsRequest{Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range l.Events {
			out = append(out, e.Severity+" "+e.SourceType+" "+e.Message)
		}
		return out
	}
	reg, err := s.RegisterNode(ctx, &rpcpb.NodeInfo{Address: "127.0.0.9:1", Ip: "127.0.0.9", Total: map[string]float64{"CPU": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReportWorkerFailure(ctx, &rpcpb.WorkerFailure{NodeId: reg.NodeId, WorkerId: "w1", Reason: "worker process 7 exited: exit status 3"}); err != nil {
		t.Fatal(err)
	}
	// An idle worker the node retired is not an event.
	if _, err := s.ReportWorkerFailure(ctx, &rpcpb.WorkerFailure{NodeId: reg.NodeId, WorkerId: "w2", Reason: "idle", Intentional: true}); err != nil {
		t.Fatal(err)
	}
	job, err := s.AddJob(ctx, &rpcpb.JobInfo{DriverAddress: "127.0.0.1:5"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkJobFinished(ctx, job); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.ReportAutoscalingState(ctx, &rpcpb.AutoscalingState{LastDecision: "scale up cpu 1→2", LastDecisionTimestampMs: 5}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UnregisterNode(ctx, &rpcpb.UnregisterNodeRequest{NodeId: reg.NodeId, Reason: "stopped"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"INFO GCS worker node " + reg.NodeId + " (127.0.0.9, 127.0.0.9:1) registered with resources map[CPU:1]",
		"ERROR RAYLET worker w1 on node " + reg.NodeId + " died unexpectedly: worker process 7 exited: exit status 3",
		"INFO GCS job " + job.JobId + " started (driver 127.0.0.1:5)",
		"INFO GCS job " + job.JobId + " finished (driver 127.0.0.1:5)",
		"INFO AUTOSCALER scale up cpu 1→2",
		"INFO GCS node " + reg.NodeId + " (127.0.0.9) left the cluster: unregistered: stopped",
	}
	for deadline := time.Now().Add(5 * time.Second); len(list()) < len(want) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond) // the node's death is handled in the background
	}
	if got := list(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	bad := &rpcpb.ClusterEventBatch{Events: []*rpcpb.ClusterEvent{
		{Severity: "INFO", SourceType: "JOBS", Message: "Job s1 submitted"},
		{Severity: "LOUD", SourceType: "JOBS", Message: "Job s1 is RUNNING"},
	}}
	if _, err := s.AddClusterEvents(ctx, bad); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `event 1: severity "LOUD"`) {
		t.Fatalf("a batch with a bad event: %v", err)
	}
	bad.Events[1].Severity = "ERROR"
	if _, err := s.AddClusterEvents(ctx, bad); err != nil {
		t.Fatal(err)
	}
	got := list(&rpcpb.TaskFilter{Key: "source_type", Predicate: "=", Value: "jobs"})
	if strings.Join(got, "\n") != "INFO JOBS Job s1 submitted\nERROR JOBS Job s1 is RUNNING" {
		t.Fatalf("job manager's events: %q", got)
	}
	if _, err := s.ListClusterEvents(ctx, &rpcpb.ListClusterEventsRequest{Filters: []*rpcpb.TaskFilter{{Key: "message", Predicate: "=", Value: "x"}}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a filter on message: %v", err)
	}
}

// TestActorClusterEvents: the directory's transitions, as the GCS applies
// them, are events — restarting after its worker died, restarted on a node,
// dead when killed — and a change that is not a transition is none.
func TestActorClusterEvents(t *testing.T) {
	s := New(Config{Logger: log.New(io.Discard, "", 0)})
	defer s.Stop()
	step := func(effs []actors.Effect) {
		s.mu.Lock()
		s.saveActorsLocked(effs)
		s.mu.Unlock()
	}
	a := &actors.Actor{ID: "a1", Class: "Counter", Name: "c", Namespace: "default", JobID: "01", MaxRestarts: 1}
	s.mu.Lock()
	_, effs, err := s.dir.Register(a, false)
	s.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	step(effs) // pending: no event
	step(s.dir.Created("a1", "n1", "w1", "127.0.0.1:1"))
	step(s.dir.WorkerDied("w1", "exit status 2"))
	step(s.dir.Created("a1", "n2", "w2", "127.0.0.1:2"))
	killEffs, err := s.dir.Kill("a1", true)
	if err != nil {
		t.Fatal(err)
	}
	step(killEffs)
	step(s.dir.WorkerDied("w2", "signal: killed")) // already dead: nothing changes
	l, err := s.ListClusterEvents(context.Background(), &rpcpb.ListClusterEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range l.Events {
		got = append(got, e.Severity+" "+e.Message+" node="+e.CustomFields["node_id"])
	}
	want := []string{
		`WARNING actor a1 (Counter "c") is restarting (restart 1 of 1) node=`,
		`INFO actor a1 (Counter "c") restarted (restart 1) on node n2 node=n2`,
		`WARNING actor a1 (Counter "c") is dead: killed by ray.Kill node=n2`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("actor events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
