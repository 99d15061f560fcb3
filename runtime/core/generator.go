package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/generator"
	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// The owner's side of streaming generators (Ray's num_returns="streaming").
// The executor reports each item as it is yielded (ReportGeneratorItems);
// each becomes an object in the owner's table, a return of the task added
// while it runs, so refs to items are ordinary refs: Get, pass to tasks,
// Release, rebuilt from lineage when lost. The stream's order, end,
// backpressure and retries are the deterministic state machine in package
// generator; this file carries out what it decides.

// ErrEndOfStream is what Generator.Next returns after the last item (Ray's
// StopIteration).
var ErrEndOfStream = errors.New("end of stream")

// maxReportItems bounds the items of one report (a decoder limit: the
// executor sends fewer, see genexec.go).
const maxReportItems = 4096

// genState is a generator task's stream at its owner.
type genState struct {
	s *generator.Stream
	// wake is closed (and replaced) when the consumer has something new:
	// an item, the end (or the stream was dropped).
	wake chan struct{}
}

func newGenState(threshold int64) *genState {
	return &genState{s: generator.NewStream(threshold), wake: make(chan struct{})}
}

func (g *genState) notify() {
	close(g.wake)
	g.wake = make(chan struct{})
}

// deliver answers held reports: each waiter is a channel with room for one.
func deliver(acks []generator.Ack) {
	for _, a := range acks {
		a.Waiter.(chan generator.Ack) <- a
	}
}

// Generator is the consumer's side of a generator task: its items' refs in
// the order they were yielded.
type Generator struct {
	w        *Worker
	own      *Handle // the task's own return: keeps the task (and lineage) while the generator is held
	released atomic.Bool
	cleanup  runtime.Cleanup
}

func (w *Worker) newGenerator(id string) *Generator {
	g := &Generator{w: w, own: w.newHandle(id)}
	g.cleanup = runtime.AddCleanup(g, func(id string) { w.dropStream(id) }, id)
	return g
}

// Handle is the generator task's own return: Cancel takes it, and it is
// ready once the task finished (nil value) or failed.
func (g *Generator) Handle() *Handle { return g.own }

// Next returns the next item's handle, waiting for the executor to yield
// it, or ErrEndOfStream. The task's error, when it failed, is the item at
// the position it happened (its Get returns the error). A deadline on ctx
// bounds the wait (GetTimeoutError).
func (g *Generator) Next(ctx context.Context) (*Handle, error) {
	if g.released.Load() {
		return nil, fmt.Errorf("next of generator %s after Release", g.own.ID)
	}
	w, id := g.w, g.own.ID
	var waiting func()
	defer func() {
		if waiting != nil {
			waiting()
		}
	}()
	for {
		w.mu.Lock()
		gs := w.genLocked(id)
		if gs == nil {
			w.mu.Unlock()
			return nil, ErrEndOfStream
		}
		idx, ok, end, acks := gs.s.Next()
		deliver(acks)
		wake := gs.wake
		w.mu.Unlock()
		switch {
		case ok:
			// The stream's reference to the item becomes the handle's.
			return w.newHandle(ids.Item(id, idx)), nil
		case end:
			return nil, ErrEndOfStream
		}
		if waiting == nil {
			waiting = w.Waiting() // a task's CPUs are lent meanwhile
		}
		select {
		case <-wake:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, &GetTimeoutError{ObjectID: id}
			}
			return nil, ctx.Err()
		}
	}
}

// closedChan is ready at once.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// Ready returns a channel closed once Next would not wait: the next item
// is there, or the end (Ray's ray.wait on a generator). A consumer selects
// on the channels of several generators to take from whichever has output.
func (g *Generator) Ready() <-chan struct{} {
	w := g.w
	w.mu.Lock()
	defer w.mu.Unlock()
	gs := w.genLocked(g.own.ID)
	if gs == nil || gs.s.Consumed() < gs.s.Received() || gs.s.Ended() || gs.s.Dropped() {
		return closedChan
	}
	return gs.wake
}

// Release drops the generator now (else the garbage collector does when it
// is unreachable): the items not taken are released and the executor no
// longer pauses for a consumer. The task runs on (Cancel stops it), as in
// Ray. Handles already taken stay valid.
func (g *Generator) Release() {
	if !g.released.CompareAndSwap(false, true) {
		return
	}
	g.cleanup.Stop()
	g.w.dropStream(g.own.ID)
	g.own.Release()
}

func (w *Worker) genLocked(taskID string) *genState {
	k, ok := w.table.Task(taskID)
	if !ok {
		return nil
	}
	return k.Spec.(*pendingTask).gen
}

// dropStream releases what the consumer of a stream did not take.
func (w *Worker) dropStream(taskID string) {
	w.mu.Lock()
	gs := w.genLocked(taskID)
	if gs == nil {
		w.mu.Unlock()
		return
	}
	from, to, acks := gs.s.Drop()
	deliver(acks)
	gs.notify()
	var acts []ownership.Action
	for i := from; i < to; i++ {
		acts = append(acts, w.table.RemoveLocal(ids.Item(taskID, i))...)
	}
	w.mu.Unlock()
	w.do(acts)
}

// ReportGeneratorItems takes items a generator task yielded (see the
// package comment above). With backpressure the reply waits for the
// consumer.
func (w *Worker) ReportGeneratorItems(ctx context.Context, in *rpcpb.GeneratorItems) (*rpcpb.GeneratorItemsReply, error) {
	if in.TaskId == "" || in.FirstIndex < 0 || in.FirstIndex > math.MaxInt64/2 || len(in.Items) > maxReportItems {
		return nil, status.Errorf(codes.InvalidArgument, "bad report of %d items from %d for task %q", len(in.Items), in.FirstIndex, in.TaskId)
	}
	for _, o := range in.Items {
		if o == nil || o.Error != nil {
			return nil, status.Error(codes.InvalidArgument, "a generator item is a value or a stored object, never an error")
		}
	}
	w.mu.Lock()
	gs := w.genLocked(in.TaskId)
	if gs == nil {
		// The task is forgotten (every ref to it and its items dropped):
		// nobody will read these, and the executor may stop.
		var acts []ownership.Action
		for i, o := range in.Items {
			acts = append(acts, w.table.Refill(ids.Item(in.TaskId, in.FirstIndex+int64(i)), locationOf(o))...)
		}
		w.mu.Unlock()
		w.do(acts)
		return &rpcpb.GeneratorItemsReply{Stop: true}, nil
	}
	waiter := make(chan generator.Ack, 1)
	rep, err := gs.s.Report(in.Attempt, in.FirstIndex, len(in.Items), waiter)
	if err != nil {
		w.mu.Unlock()
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if rep.Stale {
		// An earlier attempt still reporting as its retry runs. Its stored
		// copies carry the ids the current attempt stores under, possibly
		// on the same node (where the store keeps the first, same value):
		// freeing them could free the current one. They are freed with the
		// rest of this owner's objects when it exits.
		w.mu.Unlock()
		return &rpcpb.GeneratorItemsReply{Stop: true, Consumed: rep.Consumed}, nil
	}
	var acts []ownership.Action
	added := false
	for i, d := range rep.Items {
		item := ids.Item(in.TaskId, in.FirstIndex+int64(i))
		loc := locationOf(in.Items[i])
		switch d {
		case generator.New:
			acts = append(acts, w.table.AddReturn(in.TaskId, item, loc)...)
			added = true
		default: // Refill fills a lost item; Discard (nobody will read it) frees the copy
			acts = append(acts, w.table.Refill(item, loc)...)
		}
	}
	if added {
		gs.notify() // only then: Ready's channel closes when Next would not wait
	}
	w.mu.Unlock()
	w.do(acts)
	if !rep.Hold {
		return &rpcpb.GeneratorItemsReply{Consumed: rep.Consumed}, nil
	}
	select {
	case a := <-waiter:
		return &rpcpb.GeneratorItemsReply{Consumed: a.Consumed, Stop: a.Stop}, nil
	case <-ctx.Done():
		// The executor gave up (cancelled, gone); the stream's later ack
		// lands in the waiter's buffer, unread.
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// finishGeneratorLocked ends a generator task's stream with the result its
// executor sent.
func (w *Worker) finishGeneratorLocked(pt *pendingTask, r *rpcpb.TaskResult) []ownership.Action {
	id := pt.spec.TaskId
	loc := locationOf(r.Result)
	if loc.Err != nil {
		acts := w.failStreamLocked(pt, loc.Err)
		res := map[string]ownership.Location{id: loc}
		k, _ := w.table.Task(id)
		for _, ret := range k.Returns {
			if e, ok := w.table.Get(ret); ok && !e.Ready {
				res[ret] = loc // an item being rebuilt by this run
			}
		}
		return append(acts, w.table.Complete(id, res)...)
	}
	gs := pt.gen
	deliver(gs.s.Finish())
	gs.notify()
	acts := w.table.Complete(id, map[string]ownership.Location{id: {}})
	// Items lost while this attempt ran, before the index it was told to
	// start from, were not made again: a reconstruction makes them (the
	// first Lost resubmits, the rest find the task running).
	for i := range gs.s.Received() {
		item := ids.Item(id, i)
		if e, ok := w.table.Get(item); ok && !e.Ready && e.Local+e.Submitted > 0 {
			acts = append(acts, w.table.Lost(item, &ObjectLostError{ObjectID: item,
				Reason: "its copy is gone and it cannot be rebuilt (the generator has no retries left)"})...)
		}
	}
	return acts
}

// failStreamLocked ends a generator's stream with err as its next item.
func (w *Worker) failStreamLocked(pt *pendingTask, err error) []ownership.Action {
	gs := pt.gen
	idx, ok, acks := gs.s.Fail()
	deliver(acks)
	gs.notify()
	if !ok {
		return nil
	}
	return w.table.AddReturn(pt.spec.TaskId, ids.Item(pt.spec.TaskId, idx), ownership.Location{Err: err})
}

// unthrottleRebuildLocked lets a generator's running attempt go on without
// backpressure when one of its items was lost: the attempt skipped that
// item, so only a run after it rebuilds it, and the consumer waiting on
// the item would consume nothing more until then.
func (w *Worker) unthrottleRebuildLocked(id string) {
	e, ok := w.table.Get(id)
	if !ok || e.Ready || e.TaskID == "" {
		return
	}
	k, ok := w.table.Task(e.TaskID)
	if !ok || !k.Running {
		return
	}
	if pt := k.Spec.(*pendingTask); pt.gen != nil {
		deliver(pt.gen.s.Unthrottle())
	}
}

// retryStreamLocked starts a generator's next attempt: reports of earlier
// ones are stale, and it skips the leading items the owner holds — up to
// the first one a consumer still wants that is not ready (lost).
func (w *Worker) retryStreamLocked(pt *pendingTask) {
	gs := pt.gen
	deliver(gs.s.Retry(pt.spec.Attempt))
	id := pt.spec.TaskId
	skip := gs.s.Received()
	for i := range skip {
		if e, ok := w.table.Get(ids.Item(id, i)); ok && !e.Ready && e.Local+e.Submitted > 0 {
			skip = i
			break
		}
	}
	pt.spec.SkipItems = skip
}
