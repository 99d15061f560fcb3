package core

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/goray-dev/goray/runtime/internal/ids"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// The executor's side of generators and of num_returns > 1: running the
// function and turning what it made into the objects its owner records.

// Report batches are bounded in items and bytes: under the owner's
// decoder limit (maxReportItems) and far under a gRPC message.
const (
	reportBatchItems = 1024
	reportBatchBytes = 8 << 20
)

// errStaleAttempt stops a generator whose owner runs another attempt of
// it, or no longer wants its items.
var errStaleAttempt = errors.New("the owner stopped this generator (it runs another attempt, or forgot the task)")

// itemSender sends one report of items to the owner (a CoreWorker call;
// tests fake it).
type itemSender func(ctx context.Context, in *rpcpb.GeneratorItems) (*rpcpb.GeneratorItemsReply, error)

// itemReporter hands one attempt's items to the owner in order, in
// batches, from one goroutine at a time, and pauses the generator while
// the consumer is the backpressure threshold behind (as the owner's
// replies tell).
type itemReporter struct {
	ctx       context.Context // the task's: cancelling it stops the sends
	taskID    string
	attempt   int32
	skip      int64
	threshold int64
	send      itemSender
	// store puts a large item in the local object store and returns its
	// location (Worker.storeReturn).
	store func(ctx context.Context, id string, item Return) (*rpcpb.Object, error)
	// waiting counts the generator's backpressure pauses as waits of its
	// worker (blocked.go); nil counts nothing.
	waiting func() (end func())

	mu       sync.Mutex
	queue    []*rpcpb.Object
	first    int64 // the index of queue[0]
	produced int64
	consumed int64
	sending  bool
	err      error
	changed  chan struct{} // closed and replaced when a send ends
}

func newItemReporter(ctx context.Context, spec *rpcpb.TaskSpec, send itemSender,
	store func(context.Context, string, Return) (*rpcpb.Object, error)) *itemReporter {
	return &itemReporter{ctx: ctx, taskID: spec.TaskId, attempt: spec.Attempt, skip: spec.SkipItems,
		threshold: spec.GeneratorBackpressure, send: send, store: store, changed: make(chan struct{})}
}

// Item is the generator's Yield.Item: it queues the item for the owner
// (a small one as it is, not copied) and returns once the generator may
// go on.
func (r *itemReporter) Item(data []byte) error {
	return r.add(Return{Data: data})
}

// Sized is the generator's Yield.Sized: a large item is encoded straight
// into the memory the store takes it from.
func (r *itemReporter) Sized(size int64, fill func(dst []byte)) error {
	return r.add(Return{Size: size, Fill: fill})
}

// add queues an item.
func (r *itemReporter) add(item Return) error {
	r.mu.Lock()
	if r.err != nil {
		r.mu.Unlock()
		return r.err
	}
	idx := r.produced
	r.produced++
	r.mu.Unlock()
	if err := r.ctx.Err(); err != nil {
		return err
	}
	if idx < r.skip {
		return nil // the owner holds it from an earlier attempt
	}
	var obj *rpcpb.Object
	if item.size() > InlineThreshold {
		var err error
		if obj, err = r.store(r.ctx, ids.Item(r.taskID, idx), item); err != nil {
			r.fail(fmt.Errorf("store item %d: %w", idx, err))
			return err
		}
	} else {
		obj = &rpcpb.Object{Data: item.bytes()}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		r.first = idx
	}
	r.queue = append(r.queue, obj)
	if !r.sending {
		r.sending = true
		go r.sendLoop()
	}
	// Backpressure: wait while the owner has not consumed enough. A task
	// paused here lends its CPUs, as one waiting in a Get does: what
	// would consume its items may need them (a read of a Data pipeline
	// paused while the actors for its blocks wait for a CPU), where Ray
	// Data reserves CPUs per operator instead.
	paused := func() bool { return r.threshold > 0 && r.produced-r.consumed >= r.threshold }
	if paused() && r.waiting != nil {
		defer r.waiting()()
	}
	return r.waitLocked(paused)
}

// waitLocked waits (r.mu held) while busy() and nothing failed; it returns
// the failure, or the context's error if it ended first.
func (r *itemReporter) waitLocked(busy func() bool) error {
	for busy() && r.err == nil {
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-r.ctx.Done():
		}
		r.mu.Lock()
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
	}
	return r.err
}

func (r *itemReporter) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.signalLocked()
	r.mu.Unlock()
}

func (r *itemReporter) signalLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// sendLoop sends what is queued until nothing is.
func (r *itemReporter) sendLoop() {
	for {
		r.mu.Lock()
		if len(r.queue) == 0 || r.err != nil {
			r.sending = false
			r.signalLocked()
			r.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(r.queue) && n < reportBatchItems && (n == 0 || size+len(r.queue[n].Data) <= reportBatchBytes) {
			size += len(r.queue[n].Data)
			n++
		}
		batch := &rpcpb.GeneratorItems{TaskId: r.taskID, Attempt: r.attempt, FirstIndex: r.first, Items: r.queue[:n:n]}
		r.queue = r.queue[n:]
		r.first += int64(n)
		r.mu.Unlock()
		rep, err := r.send(r.ctx, batch)
		r.mu.Lock()
		switch {
		case err != nil:
			if r.err == nil {
				r.err = fmt.Errorf("report items to the owner: %w", err)
			}
		case rep.Stop:
			if r.err == nil {
				r.err = errStaleAttempt
			}
		default:
			r.consumed = max(r.consumed, rep.Consumed)
		}
		r.signalLocked()
		r.mu.Unlock()
	}
}

// flush waits until every item was reported; its error is why not.
func (r *itemReporter) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waitLocked(func() bool { return r.sending || len(r.queue) > 0 })
}

// runGenerator runs a generator task and sets its result: the count of
// items after all were reported, or the error it ended with.
func (w *Worker) runGenerator(ctx context.Context, spec *rpcpb.TaskSpec, inst any, args [][]byte, res *rpcpb.TaskResult) {
	g, ok := lookupGen(spec.Name, spec.ActorId != "")
	if !ok {
		w.setError(ctx, spec, res, fmt.Errorf("%q is not a generator registered in this binary (register it with ray.Generator or ray.GeneratorMethod at package level)", spec.Name))
		return
	}
	rep := newItemReporter(ctx, spec, w.sendItems(spec.OwnerAddress), func(ctx context.Context, id string, item Return) (*rpcpb.Object, error) {
		return w.storeReturn(ctx, id, spec.OwnerAddress, item)
	})
	rep.waiting = w.Waiting
	err := protect(spec.Name, func() error { return g(ctx, inst, args, rep) })
	if err == nil && ctx.Err() != nil {
		err = ctx.Err() // cancelled, and the generator ignored its yield's error
	}
	if err != nil {
		rep.mu.Lock()
		stale := errors.Is(rep.err, errStaleAttempt)
		rep.mu.Unlock()
		if stale {
			res.SystemError = errStaleAttempt.Error() // its owner ignores this attempt's result
			return
		}
		// Items yielded before the error reach the owner before it does:
		// the error is the stream's item after them.
		if ferr := rep.flush(); ferr != nil && ctx.Err() == nil {
			res.SystemError = ferr.Error()
			return
		}
		w.setError(ctx, spec, res, err)
		return
	}
	if err := rep.flush(); err != nil {
		if ctx.Err() != nil {
			w.setError(ctx, spec, res, err)
			return
		}
		// Items lost on the way: the owner retries the task (its retry
		// skips what did arrive).
		res.SystemError = err.Error()
		return
	}
	res.Result = &rpcpb.Object{}
	res.GeneratorItems = rep.produced
}

// sendItems reports items to the owner at addr.
func (w *Worker) sendItems(addr string) itemSender {
	return func(ctx context.Context, in *rpcpb.GeneratorItems) (*rpcpb.GeneratorItemsReply, error) {
		c, err := w.pool.Get(addr)
		if err != nil {
			return nil, err
		}
		return rpcpb.NewCoreWorkerClient(c).ReportGeneratorItems(ctx, in)
	}
}

// runMulti runs a task with num_returns (>= 1: its result a slice of
// that many) and sets its returns.
func (w *Worker) runMulti(ctx context.Context, spec *rpcpb.TaskSpec, inst any, args [][]byte, res *rpcpb.TaskResult) {
	n := int(spec.NumReturns)
	m, ok := lookupMulti(spec.Name, spec.ActorId != "")
	if !ok {
		w.setError(ctx, spec, res, fmt.Errorf("%q does not return a slice, so it cannot be called with num_returns %d", spec.Name, n))
		return
	}
	var outs []Return
	err := protect(spec.Name, func() error {
		var e error
		outs, e = m(ctx, inst, args)
		return e
	})
	if err == nil && len(outs) != n {
		res.Result = &rpcpb.Object{Error: &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_TASK, TaskName: spec.Name, Type: "NumReturnsMismatch",
			Message: fmt.Sprintf("returned %d values, but num_returns is %d", len(outs), n)}}
		return
	}
	if err != nil {
		w.setError(ctx, spec, res, err)
		return
	}
	objs := make([]*rpcpb.Object, n)
	for i, out := range outs {
		if out.size() <= InlineThreshold {
			objs[i] = &rpcpb.Object{Data: out.bytes()}
			continue
		}
		id := spec.TaskId
		if i > 0 {
			id = ids.Return(spec.TaskId, i)
		}
		obj, err := w.storeReturn(ctx, id, spec.OwnerAddress, out)
		if err != nil {
			res.SystemError = "store result: " + err.Error()
			return
		}
		objs[i] = obj
	}
	res.Result, res.MoreReturns = objs[0], objs[1:]
}

// setError sets a task's failure: cancelled when its context was (and the
// worker is not shutting down), else the function's error.
func (w *Worker) setError(ctx context.Context, spec *rpcpb.TaskSpec, res *rpcpb.TaskResult, err error) {
	if ctx.Err() != nil && w.baseCtx.Err() == nil {
		res.Result = &rpcpb.Object{Error: &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_CANCELLED, Message: spec.TaskId}}
		return
	}
	res.Result = &rpcpb.Object{Error: retryableInfo(taskErrInfo(spec.Name, err), spec, err)}
}
