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
	if _, err := ray.Get(ctx, whereAmI.Remote(ctx, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, failing.Remote(ctx, "no luck today", ray.MaxRetries(0))); err == nil {
		t.Fatal("the failing task succeeded")
	}
	marker := filepath.Join(t.TempDir(), "crashed")
	if _, err := ray.Get(ctx, crashOnce.Remote(ctx, marker)); err != nil {
		t.Fatal(err)
	}
	h, err := stateful.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, h, true) }()
	if _, err := ray.Get(ctx, actorWhere.Remote(ctx, h)); err != nil {
		t.Fatal(err)
	}

	byName := func(ts []*rpcpb.TaskState, name string) []*rpcpb.TaskState {
		var out []*rpcpb.TaskState
		for _, st := range ts {
			if st.Info.GetName() == name {
				out = append(out, st)
			}
		}
		return out
	}
	done := func(st *rpcpb.TaskState) bool {
		return st.State == rpcpb.TaskEvent_FINISHED || st.State == rpcpb.TaskEvent_FAILED
	}
	job := ray.JobID()
	ts := listTasks(t, func(ts []*rpcpb.TaskState) bool {
		n := 0
		for _, name := range []string{"it.where", "it.failing", "it.Stateful.__init__", "it.Stateful.where"} {
			if s := byName(ts, name); len(s) > 0 && done(s[0]) && s[0].NodeId != "" {
				n++
			}
		}
		c := byName(ts, "it.crash_once")
		return n == 4 && len(c) >= 2 && done(c[0]) && done(c[1])
	}, "job_id", "=", job)

	where := byName(ts, "it.where")[0]
	if where.State != rpcpb.TaskEvent_FINISHED || where.Info.Type != rpcpb.TaskInfo_NORMAL_TASK || where.WorkerPid == 0 || where.JobId != job {
		t.Errorf("it.where: %v", where)
	}
	for _, s := range []rpcpb.TaskEvent_Status{rpcpb.TaskEvent_PENDING_NODE_ASSIGNMENT, rpcpb.TaskEvent_SUBMITTED_TO_WORKER, rpcpb.TaskEvent_RUNNING, rpcpb.TaskEvent_FINISHED} {
		if where.StatusTimesNs[int32(s)] == 0 {
			t.Errorf("it.where has no %s time: %v", s, where.StatusTimesNs)
		}
	}
	fail := byName(ts, "it.failing")[0]
	if fail.State != rpcpb.TaskEvent_FAILED || fail.ErrorType != "TASK_EXECUTION_EXCEPTION" || !strings.Contains(fail.ErrorMessage, "no luck today") {
		t.Errorf("it.failing: state %s, error %s %q", fail.State, fail.ErrorType, fail.ErrorMessage)
	}
	crash := byName(ts, "it.crash_once") // newest first
	if crash[0].Attempt != 1 || crash[0].State != rpcpb.TaskEvent_FINISHED || crash[1].Attempt != 0 ||
		crash[1].State != rpcpb.TaskEvent_FAILED || crash[1].ErrorType != "WORKER_DIED" || crash[0].TaskId != crash[1].TaskId {
		t.Errorf("it.crash_once: attempt %d %s, attempt %d %s (%s)", crash[0].Attempt, crash[0].State, crash[1].Attempt, crash[1].State, crash[1].ErrorType)
	}
	ctor := byName(ts, "it.Stateful.__init__")[0]
	call := byName(ts, "it.Stateful.where")[0]
	if ctor.Info.Type != rpcpb.TaskInfo_ACTOR_CREATION_TASK || ctor.State != rpcpb.TaskEvent_FINISHED ||
		call.Info.Type != rpcpb.TaskInfo_ACTOR_TASK || call.State != rpcpb.TaskEvent_FINISHED || call.Info.ActorId == "" ||
		call.Info.ActorId != ctor.Info.ActorId || call.WorkerId != ctor.WorkerId {
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
