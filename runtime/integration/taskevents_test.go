package integration

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

var failing = ray.Task("it.failing", func(ctx context.Context, msg string) (int, error) {
	return 0, errors.New(msg)
})

// listTasks polls the GCS's task history until want accepts the answer to
// filters (task events arrive once a second).
func listTasks(t *testing.T, want func([]*rpcpb.TaskState) bool, filters ...string) []*rpcpb.TaskState {
	t.Helper()
	conn, err := grpc.NewClient(gcsAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := &rpcpb.ListTasksRequest{Limit: 1000}
	for i := 0; i+2 < len(filters); i += 3 {
		req.Filters = append(req.Filters, &rpcpb.TaskFilter{Key: filters[i], Predicate: filters[i+1], Value: filters[i+2]})
	}
	var last []*rpcpb.TaskState
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		l, err := rpcpb.NewGcsClient(conn).ListTasks(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if last = l.Tasks; want(last) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, st := range last {
		t.Logf("  %s/%d %s %s node=%s err=%s", st.TaskId, st.Attempt, st.Info.GetName(), st.State, st.NodeId, st.ErrorType)
	}
	t.Fatalf("the task history never showed what was expected (filters %v)", filters)
	return nil
}

// Owners and executors report task transitions; the GCS merges them per
// attempt: a finished task with where it ran, a failed one with its error, a
// retried one as two attempts, an actor's constructor and calls.
func TestTaskEvents(t *testing.T) {
	ctx := context.Background()
	// A task's id is its result's: this test's own tasks, whatever other
	// tests of this driver's job ran before.
	whereRef := whereAmI.Remote(ctx, 0)
	if _, err := ray.Get(ctx, whereRef); err != nil {
		t.Fatal(err)
	}
	failRef := failing.Remote(ctx, "no luck today", ray.MaxRetries(0))
	if _, err := ray.Get(ctx, failRef); err == nil {
		t.Fatal("the failing task succeeded")
	}
	marker := filepath.Join(t.TempDir(), "crashed")
	crashRef := crashOnce.Remote(ctx, marker)
	if _, err := ray.Get(ctx, crashRef); err != nil {
		t.Fatal(err)
	}
	h, err := stateful.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, h, true) }()
	callRef := actorWhere.Remote(ctx, h)
	if _, err := ray.Get(ctx, callRef); err != nil {
		t.Fatal(err)
	}

	type attempt struct {
		id string
		n  int32
	}
	find := func(ts []*rpcpb.TaskState) (map[attempt]*rpcpb.TaskState, *rpcpb.TaskState) {
		byID := map[attempt]*rpcpb.TaskState{}
		var ctor *rpcpb.TaskState
		for _, st := range ts {
			byID[attempt{st.TaskId, st.Attempt}] = st
			if st.Info.GetType() == rpcpb.TaskInfo_ACTOR_CREATION_TASK && st.Info.GetActorId() == h.ID {
				ctor = st
			}
		}
		return byID, ctor
	}
	done := func(st *rpcpb.TaskState) bool {
		return st != nil && (st.State == rpcpb.TaskEvent_FINISHED || st.State == rpcpb.TaskEvent_FAILED)
	}
	job := ray.JobID()
	ts := listTasks(t, func(ts []*rpcpb.TaskState) bool {
		byID, ctor := find(ts)
		for _, k := range []attempt{{whereRef.ID(), 0}, {failRef.ID(), 0}, {crashRef.ID(), 0}, {crashRef.ID(), 1}, {callRef.ID(), 0}} {
			if !done(byID[k]) {
				return false
			}
		}
		return done(ctor) && byID[attempt{whereRef.ID(), 0}].NodeId != "" && byID[attempt{callRef.ID(), 0}].NodeId != ""
	}, "job_id", "=", job)
	byID, ctor := find(ts)

	where := byID[attempt{whereRef.ID(), 0}]
	if where.State != rpcpb.TaskEvent_FINISHED || where.Info.GetName() != "it.where" || where.Info.Type != rpcpb.TaskInfo_NORMAL_TASK ||
		where.WorkerPid == 0 || where.JobId != job {
		t.Errorf("it.where: %v", where)
	}
	for _, s := range []rpcpb.TaskEvent_Status{rpcpb.TaskEvent_PENDING_NODE_ASSIGNMENT, rpcpb.TaskEvent_SUBMITTED_TO_WORKER, rpcpb.TaskEvent_RUNNING, rpcpb.TaskEvent_FINISHED} {
		if where.StatusTimesNs[int32(s)] == 0 {
			t.Errorf("it.where has no %s time: %v", s, where.StatusTimesNs)
		}
	}
	fail := byID[attempt{failRef.ID(), 0}]
	if fail.State != rpcpb.TaskEvent_FAILED || fail.ErrorType != "TASK_EXECUTION_EXCEPTION" || !strings.Contains(fail.ErrorMessage, "no luck today") {
		t.Errorf("it.failing: state %s, error %s %q", fail.State, fail.ErrorType, fail.ErrorMessage)
	}
	first, retry := byID[attempt{crashRef.ID(), 0}], byID[attempt{crashRef.ID(), 1}]
	if first.State != rpcpb.TaskEvent_FAILED || first.ErrorType != "WORKER_DIED" || retry.State != rpcpb.TaskEvent_FINISHED {
		t.Errorf("it.crash_once: attempt 0 %s (%s), attempt 1 %s", first.State, first.ErrorType, retry.State)
	}
	call := byID[attempt{callRef.ID(), 0}]
	if ctor.Info.GetName() != "it.Stateful.__init__" || ctor.State != rpcpb.TaskEvent_FINISHED ||
		call.Info.Type != rpcpb.TaskInfo_ACTOR_TASK || call.State != rpcpb.TaskEvent_FINISHED || call.Info.ActorId != h.ID ||
		call.WorkerId != ctor.WorkerId {
		t.Errorf("actor: constructor %v, call %v", ctor, call)
	}

	// Ray's filters work on the GCS's side.
	failed := listTasks(t, func(ts []*rpcpb.TaskState) bool { return len(ts) >= 2 }, "job_id", "=", job, "state", "=", "failed")
	for _, st := range failed {
		if st.State != rpcpb.TaskEvent_FAILED {
			t.Errorf("state=failed listed %s/%d in %s", st.TaskId, st.Attempt, st.State)
		}
	}
}
