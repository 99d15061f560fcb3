package core

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// bareWorker is an owner without a cluster: enough for its table, its
// streams and Get of inline objects.
func bareWorker(t *testing.T) *Worker {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Worker{addr: "127.0.0.1:1", table: ownership.New(), pending: map[string]*pendingTask{},
		queues: map[string]*schedQueue{}, actorsC: map[string]*actorSubmitter{}, baseCtx: ctx, stopAll: cancel}
}

// submitGen records a generator task as SubmitGenerator does, without
// sending it anywhere.
func submitGen(w *Worker, threshold int64) (*pendingTask, *Generator) {
	id := ids.Seq()
	pt := &pendingTask{spec: &rpcpb.TaskSpec{TaskId: id, Name: "gen", Streaming: true, GeneratorBackpressure: threshold},
		gen: newGenState(threshold), opts: TaskOptions{MaxRetries: 3}}
	w.addTask(pt, nil)
	return pt, w.newGenerator(id)
}

func report(t *testing.T, w *Worker, pt *pendingTask, first int64, values ...string) *rpcpb.GeneratorItemsReply {
	t.Helper()
	in := &rpcpb.GeneratorItems{TaskId: pt.spec.TaskId, Attempt: pt.spec.Attempt, FirstIndex: first}
	for _, v := range values {
		in.Items = append(in.Items, &rpcpb.Object{Data: []byte(v)})
	}
	rep, err := w.ReportGeneratorItems(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func next(t *testing.T, w *Worker, g *Generator) (string, error) {
	t.Helper()
	h, err := g.Next(context.Background())
	if err != nil {
		return "", err
	}
	v, err := w.Get(context.Background(), h.ID, h.Owner)
	return string(v), err
}

func finish(w *Worker, pt *pendingTask, res *rpcpb.Object) {
	w.mu.Lock()
	acts := w.finishLocked(pt, &rpcpb.TaskResult{TaskId: pt.spec.TaskId, Result: res})
	w.mu.Unlock()
	w.do(acts)
}

func TestGeneratorItemsInOrderThenEnd(t *testing.T) {
	w := bareWorker(t)
	pt, g := submitGen(w, 0)
	report(t, w, pt, 0, "a", "b")
	if v, err := next(t, w, g); v != "a" || err != nil {
		t.Fatalf("first item %q, %v", v, err)
	}
	finish(w, pt, &rpcpb.Object{})
	if v, err := next(t, w, g); v != "b" || err != nil {
		t.Fatalf("second item %q, %v", v, err)
	}
	if _, err := g.Next(context.Background()); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("after the last item: %v, want ErrEndOfStream", err)
	}
}

// The task's error is the item at the position it failed; the stream ends
// after it, and the items before keep their values.
func TestGeneratorErrorAtItsPosition(t *testing.T) {
	w := bareWorker(t)
	pt, g := submitGen(w, 0)
	report(t, w, pt, 0, "a")
	finish(w, pt, &rpcpb.Object{Error: &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_TASK, Message: "boom", TaskName: "gen"}})
	if v, err := next(t, w, g); v != "a" || err != nil {
		t.Fatalf("first item %q, %v", v, err)
	}
	_, err := next(t, w, g)
	var te *TaskError
	if !errors.As(err, &te) || te.Message != "boom" {
		t.Fatalf("second item: %v, want the task's error", err)
	}
	if _, err := g.Next(context.Background()); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("after the error: %v, want ErrEndOfStream", err)
	}
}

// With backpressure 1 the owner answers a report only once the consumer
// took the item: the executor's pause.
func TestGeneratorOwnerHoldsReplyForBackpressure(t *testing.T) {
	w := bareWorker(t)
	pt, g := submitGen(w, 1)
	done := make(chan *rpcpb.GeneratorItemsReply, 1)
	go func() {
		rep, err := w.ReportGeneratorItems(context.Background(), &rpcpb.GeneratorItems{TaskId: pt.spec.TaskId, Items: []*rpcpb.Object{{Data: []byte("a")}}})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	// The item is recorded before the reply is decided: a reply not held
	// says 0 consumed. Held, it waits for this Next and says 1.
	if _, err := g.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rep := <-done; rep == nil || rep.Consumed != 1 {
		t.Fatalf("reply %+v, want it held until the consumer took the item (consumed 1)", rep)
	}
}

// Dropping the generator releases the items not taken; taken ones stay.
func TestGeneratorReleaseFreesUnconsumed(t *testing.T) {
	w := bareWorker(t)
	pt, g := submitGen(w, 0)
	report(t, w, pt, 0, "a", "b", "c")
	h, err := g.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g.Release()
	w.mu.Lock()
	_, has0 := w.table.Get(ids.Item(pt.spec.TaskId, 0))
	_, has1 := w.table.Get(ids.Item(pt.spec.TaskId, 1))
	_, has2 := w.table.Get(ids.Item(pt.spec.TaskId, 2))
	w.mu.Unlock()
	if !has0 || has1 || has2 {
		t.Fatalf("after Release: item 0 kept %v (want true), items 1, 2 kept %v %v (want false)", has0, has1, has2)
	}
	if v, err := w.Get(context.Background(), h.ID, h.Owner); string(v) != "a" || err != nil {
		t.Fatalf("taken item after Release: %q, %v", v, err)
	}
	// Later items are not kept, and the executor is told all is consumed.
	if rep := report(t, w, pt, 3, "d"); rep.Consumed != 4 || rep.Stop {
		t.Fatalf("report after Release: %+v, want consumed 4", rep)
	}
	if _, err := g.Next(context.Background()); err == nil {
		t.Fatal("Next after Release succeeded")
	}
}

// A retry makes the earlier attempt's reports stale and skips the items
// the owner holds, up to the first lost one a consumer still holds.
func TestGeneratorRetrySkipsHeldItems(t *testing.T) {
	w := bareWorker(t)
	pt, g := submitGen(w, 0)
	report(t, w, pt, 0, "a", "b", "c")
	h0, _ := g.Next(context.Background())
	h1, _ := g.Next(context.Background())
	_ = h0
	w.mu.Lock()
	pt.spec.Attempt++
	w.beforeAttemptLocked(pt)
	skip := pt.spec.SkipItems
	w.mu.Unlock()
	if skip != 3 {
		t.Fatalf("retry skips %d items, want the 3 the owner holds", skip)
	}
	stale, err := w.ReportGeneratorItems(context.Background(), &rpcpb.GeneratorItems{TaskId: pt.spec.TaskId, Attempt: 0, FirstIndex: 3,
		Items: []*rpcpb.Object{{Data: []byte("d")}}})
	if err != nil || !stale.Stop {
		t.Fatalf("report of the old attempt: %+v, %v; want stop", stale, err)
	}
	// Item 1 is lost (its node died) while the consumer holds it.
	w.mu.Lock()
	w.table.Lost(h1.ID, ownership.ErrLost)
	pt.spec.Attempt++
	w.beforeAttemptLocked(pt)
	skip = pt.spec.SkipItems
	w.mu.Unlock()
	if skip != 1 {
		t.Fatalf("retry skips %d items, want 1 (item 1 is lost)", skip)
	}
	report(t, w, pt, 1, "b", "c", "d")
	if v, err := w.Get(context.Background(), h1.ID, h1.Owner); string(v) != "b" || err != nil {
		t.Fatalf("refilled item 1: %q, %v", v, err)
	}
	if v, err := next(t, w, g); v != "c" || err != nil {
		t.Fatalf("item 2: %q, %v", v, err)
	}
	if v, err := next(t, w, g); v != "d" || err != nil {
		t.Fatalf("item 3: %q, %v", v, err)
	}
}

func TestGeneratorReportsAreChecked(t *testing.T) {
	w := bareWorker(t)
	pt, _ := submitGen(w, 0)
	for name, in := range map[string]*rpcpb.GeneratorItems{
		"no task":        {FirstIndex: 0},
		"negative index": {TaskId: pt.spec.TaskId, FirstIndex: -1},
		"too many items": {TaskId: pt.spec.TaskId, Items: make([]*rpcpb.Object, maxReportItems+1)},
		"an error item":  {TaskId: pt.spec.TaskId, Items: []*rpcpb.Object{{Error: &rpcpb.ErrorInfo{}}}},
		"a gap":          {TaskId: pt.spec.TaskId, FirstIndex: 5, Items: []*rpcpb.Object{{Data: []byte("x")}}},
	} {
		if _, err := w.ReportGeneratorItems(context.Background(), in); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	// A task the owner does not know: the executor is told to stop.
	rep, err := w.ReportGeneratorItems(context.Background(), &rpcpb.GeneratorItems{TaskId: ids.Seq(), Items: []*rpcpb.Object{{Data: []byte("x")}}})
	if err != nil || !rep.Stop {
		t.Fatalf("report for an unknown task: %+v, %v", rep, err)
	}
}

// Ready is closed exactly when Next would not wait.
func TestGeneratorReady(t *testing.T) {
	w := bareWorker(t)
	pt, g := submitGen(w, 0)
	isClosed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	ch := g.Ready()
	if isClosed(ch) {
		t.Fatal("ready before any item")
	}
	report(t, w, pt, 0, "a")
	if !isClosed(ch) || !isClosed(g.Ready()) {
		t.Fatal("not ready with an item there")
	}
	if _, err := g.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch = g.Ready()
	if isClosed(ch) {
		t.Fatal("ready after the only item was taken")
	}
	// A refill (a retry making an item again) is nothing new to take.
	report(t, w, pt, 0, "a")
	if isClosed(ch) {
		t.Fatal("ready after a refill")
	}
	finish(w, pt, &rpcpb.Object{})
	if !isClosed(ch) {
		t.Fatal("not ready at the end")
	}
	if _, err := g.Next(context.Background()); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("Next when ready at the end: %v", err)
	}
}
