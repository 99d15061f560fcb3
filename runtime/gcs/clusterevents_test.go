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
