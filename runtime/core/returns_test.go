package core

import (
	"context"
	"errors"
	"testing"

	"github.com/goray-dev/goray/runtime/internal/ids"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// num_returns: each return its own object; an error, or the wrong count,
// reaches every one.
func TestMultiReturnLocations(t *testing.T) {
	spec := &rpcpb.TaskSpec{TaskId: "t", Name: "f", NumReturns: 3}
	ok := multiLocations(spec, &rpcpb.TaskResult{Result: &rpcpb.Object{Data: []byte("0")},
		MoreReturns: []*rpcpb.Object{{Data: []byte("1")}, {InStore: true, NodeId: "n1", Size: 200000}}})
	if string(ok["t"].Inline) != "0" || string(ok[ids.Return("t", 1)].Inline) != "1" || ok[ids.Return("t", 2)].NodeID != "n1" {
		t.Fatalf("locations %+v", ok)
	}
	for name, r := range map[string]*rpcpb.TaskResult{
		"error":      {Result: &rpcpb.Object{Error: &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_TASK, Message: "boom"}}},
		"too few":    {Result: &rpcpb.Object{Data: []byte("0")}},
		"no results": {},
	} {
		locs := multiLocations(spec, r)
		if len(locs) != 3 {
			t.Fatalf("%s: %d locations", name, len(locs))
		}
		for id, l := range locs {
			if l.Err == nil {
				t.Errorf("%s: return %s has no error", name, id)
			}
		}
	}
}

// A task with two returns ends through the owner's one path: each return
// gets its own value, or all get the failure.
func TestMultiReturnTaskEnds(t *testing.T) {
	w := bareWorker(t)
	submit := func() (*pendingTask, []*Handle) {
		pt, rets := w.newTask("f", nil, &TaskOptions{MaxRetries: 1}, 2)
		pt.spec.NumReturns = 2
		return pt, w.addTask(pt, rets)
	}
	get := func(h *Handle) (string, error) {
		v, err := w.Get(context.Background(), h.ID, h.Owner)
		return string(v), err
	}
	pt, hs := submit()
	w.mu.Lock()
	acts := w.finishLocked(pt, &rpcpb.TaskResult{TaskId: pt.spec.TaskId, Result: &rpcpb.Object{Data: []byte("a")},
		MoreReturns: []*rpcpb.Object{{Data: []byte("b")}}})
	w.mu.Unlock()
	w.do(acts)
	if a, err := get(hs[0]); a != "a" || err != nil {
		t.Fatalf("return 0: %q, %v", a, err)
	}
	if b, err := get(hs[1]); b != "b" || err != nil {
		t.Fatalf("return 1: %q, %v", b, err)
	}
	pt, hs = submit()
	w.mu.Lock()
	acts = w.failTaskLocked(pt, &TaskCancelledError{TaskID: pt.spec.TaskId})
	w.mu.Unlock()
	w.do(acts)
	for i, h := range hs {
		var ce *TaskCancelledError
		if _, err := get(h); !errors.As(err, &ce) {
			t.Fatalf("return %d of a cancelled task: %v", i, err)
		}
	}
}
