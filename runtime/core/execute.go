package core

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// PushTasks runs the tasks an owner streams to this worker and streams the results back.
func (w *Worker) PushTasks(stream rpcpb.CoreWorker_PushTasksServer) error {
	if w.liteHost.Load() {
		return w.pushInstance(stream)
	}
	w.execMu.Lock()
	groups := w.groups
	w.execMu.Unlock()
	return w.pushTo(stream, groups)
}

// pushTo runs a stream's tasks, as the actor's concurrency groups allow
// (nil: one at a time).
func (w *Worker) pushTo(stream rpcpb.CoreWorker_PushTasksServer, groups *actorGroups) error {
	if groups == nil || (groups.named == nil && cap(groups.def) == 1) {
		var sem chan struct{}
		if groups != nil {
			sem = groups.def
		}
		return w.pushSequential(stream, sem)
	}
	results := make(chan *rpcpb.TaskResult, 4096)
	sent := make(chan error, 1)
	go func() {
		var err error
		for r := range results {
			batch := []*rpcpb.TaskResult{r}
		more:
			for len(batch) < 4096 {
				select {
				case x, ok := <-results:
					if !ok {
						break more
					}
					batch = append(batch, x)
				default:
					break more
				}
			}
			if err == nil {
				err = stream.Send(&rpcpb.ResultBatch{Results: batch})
			}
		}
		sent <- err
	}()
	w.pushGrouped(stream.Recv, groups, results)
	close(results)
	return <-sent
}

// resultFlushDelay bounds how long finished results of a batch wait to be
// sent together with the rest of it.
const resultFlushDelay = time.Millisecond

// pushSequential runs tasks one at a time (normal tasks, actors without
// concurrency) on the receiving goroutine and sends their results from it
// too: no handoff between goroutines on the round trip. The results of one
// received batch go back in one message unless it runs longer than
// resultFlushDelay.
func (w *Worker) pushSequential(stream rpcpb.CoreWorker_PushTasksServer, sem chan struct{}) error {
	var out []*rpcpb.TaskResult
	sized := false
	for {
		b, err := stream.Recv()
		if err != nil {
			return nil //nolint:nilerr // the submitter closed the stream or went away: the push is over
		}
		if !sized && b.LeaseCpus > 0 {
			w.sizeScheduler(b.LeaseCpus)
			w.setGPUs(b.SetGpus, b.GpuIds)
			sized = true
		}
		var first time.Time
		for i, spec := range b.Tasks {
			if spec.Streaming && len(out) > 0 {
				// A generator runs as long as its stream: the results
				// before it must not wait for its end (their owner may
				// wait on them before it consumes the stream).
				if err := stream.Send(&rpcpb.ResultBatch{Results: out}); err != nil {
					return err
				}
				out = nil
			}
			if sem != nil {
				sem <- struct{}{}
			}
			r := w.execute(spec)
			if sem != nil {
				<-sem
			}
			last := i == len(b.Tasks)-1
			if len(out) == 0 && !last {
				first = time.Now() // (a batch's last result goes at once: no clock read)
			}
			out = append(out, r)
			if last || len(out) >= 4096 || time.Since(first) >= resultFlushDelay {
				if err := stream.Send(&rpcpb.ResultBatch{Results: out}); err != nil {
					return err
				}
				out = nil
			}
		}
	}
}

// CreateActor runs an actor's constructor in this (dedicated) worker.
func (w *Worker) CreateActor(ctx context.Context, spec *rpcpb.TaskSpec) (*rpcpb.TaskResult, error) {
	res, err := w.createActor(ctx, spec)
	if err == nil {
		w.creationOutcomeEvent(spec, res.GetResult().GetError())
	}
	return res, err
}

func (w *Worker) createActor(ctx context.Context, spec *rpcpb.TaskSpec) (*rpcpb.TaskResult, error) {
	ctor, ok := lookupCtor(spec.Name)
	if !ok {
		return &rpcpb.TaskResult{TaskId: spec.TaskId, Result: &rpcpb.Object{Error: &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_TASK,
			Message: fmt.Sprintf("actor class %q is not registered in this binary (register it with ray.Actor at package level)", spec.Name), Type: "NotRegistered"}}}, nil
	}
	if spec.Lightweight {
		return w.createInstance(ctx, spec, ctor)
	}
	w.execMu.Lock()
	if w.actorID != "" || w.liteHost.Load() {
		w.execMu.Unlock()
		return nil, status.Errorf(codes.FailedPrecondition, "worker already hosts actor %s", w.actorID)
	}
	w.actorID = spec.ActorId
	w.hostsActor.Store(true)
	w.execMu.Unlock()
	w.runningEvent(spec, w.creationInfo(spec), time.Now())
	w.defaultScheduler() // the worker may have run 1-CPU tasks before
	w.setGPUs(spec.SetGpus, spec.GpuIds)
	// The reply waits for the registrations of what the constructor
	// borrowed, as a task's does (execute).
	defer w.flushBorrows()
	args, argsDone, err := w.resolveArgs(ctx, spec.Args, spec.OwnerAddress)
	if err != nil {
		return &rpcpb.TaskResult{TaskId: spec.TaskId, Result: &rpcpb.Object{Error: infoFromError(err)}}, nil
	}
	defer argsDone.run()
	var inst any
	err = protect(spec.Name, func() error {
		var e error
		inst, e = ctor(w.baseCtx, args)
		return e
	})
	if err != nil {
		return &rpcpb.TaskResult{TaskId: spec.TaskId, Result: &rpcpb.Object{Error: taskErrInfo(spec.Name, err)}}, nil
	}
	w.execMu.Lock()
	w.actor = inst
	w.groups = newActorGroups(int(spec.MaxConcurrency), spec.ConcurrencyGroups)
	w.execMu.Unlock()
	return &rpcpb.TaskResult{TaskId: spec.TaskId, Result: &rpcpb.Object{}}, nil
}

type panicError struct {
	value any
	stack string
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.value, p.stack) }

func protect(name string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r, stack: string(debug.Stack())}
		}
	}()
	return f()
}

func taskErrInfo(name string, err error) *rpcpb.ErrorInfo {
	if te, ok := err.(*TaskError); ok { //nolint:errorlint // exactly a TaskError, as in infoFromError
		return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_TASK, Message: te.Error(), Type: "*core.TaskError", TaskName: name}
	}
	return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_TASK, Message: err.Error(), Type: fmt.Sprintf("%T", err), TaskName: name}
}

// execFrame is what one execution allocates for its reply and arguments,
// together: the result, its object and (for up to two arguments) the
// argument list.
type execFrame struct {
	res  rpcpb.TaskResult
	obj  rpcpb.Object
	args [2][]byte
}

func (w *Worker) execute(spec *rpcpb.TaskSpec) *rpcpb.TaskResult {
	start := time.Now()
	fr := &execFrame{}
	res := &fr.res
	res.TaskId, res.Attempt, res.StartTimeNs = spec.TaskId, spec.Attempt, start.UnixNano()
	w.execMu.Lock()
	inst, base, gone := w.actorInstanceLocked(spec)
	tc := &taskContext{base: base, id: spec.TaskId, hasRefs: true}
	w.running[spec.TaskId] = runningTask{task: tc, spec: spec, start: start}
	w.execMu.Unlock()
	defer tc.end()
	// Last, before the reply goes: the registrations of what the task
	// borrowed (references decoded from its arguments) are answered, so its
	// submitter may drop the holds its arguments had (runtime/ownership).
	defer w.flushBorrows()
	refs := &tc.refs // in the context's allocation: none of its own per task
	ctx := context.Context(tc)
	defer func() {
		w.execMu.Lock()
		delete(w.running, spec.TaskId)
		w.execMu.Unlock()
	}()
	if gone {
		res.Result = &rpcpb.Object{Error: infoFromError(&ActorDiedError{ActorID: spec.ActorId, Cause: "its instance was killed"})}
		return res
	}
	args, argsDone, err := w.resolveArgsInto(ctx, spec.Args, spec.OwnerAddress, fr.args[:0])
	if err != nil {
		res.Result = &rpcpb.Object{Error: infoFromError(err)}
		return res
	}
	defer argsDone.run()
	if spec.Streaming || spec.NumReturns >= 1 {
		if spec.Streaming {
			w.runGenerator(ctx, spec, inst, args, res)
		} else {
			w.runMulti(ctx, spec, inst, args, res)
		}
		res.ExecMicros = time.Since(start).Microseconds()
		return res
	}
	var out []byte
	if spec.ActorId != "" {
		m, ok := lookupMethod(spec.Name)
		if !ok {
			err = fmt.Errorf("actor method %q is not registered in this binary", spec.Name)
		} else {
			err = protect(spec.Name, func() error {
				var e error
				out, e = m(ctx, inst, args)
				return e
			})
		}
	} else {
		f, ok := lookupFunc(spec.Name)
		if !ok {
			err = fmt.Errorf("task %q is not registered in this binary (register it with ray.Task at package level)", spec.Name)
		} else {
			err = protect(spec.Name, func() error {
				var e error
				out, e = f(ctx, args)
				return e
			})
		}
	}
	res.ExecMicros = time.Since(start).Microseconds()
	if err != nil {
		w.setError(ctx, spec, res, err)
		return res
	}
	if len(out) > InlineThreshold {
		if res.Result, err = w.storeReturn(ctx, spec.TaskId, spec.OwnerAddress, Return{Data: out}); err != nil {
			res.SystemError = "store result: " + err.Error()
			return res
		}
	} else {
		fr.obj.Data = out
		res.Result = &fr.obj
	}
	if len(refs.hs) > 0 {
		// The result holds references: its owner becomes their borrower
		// before the reply can reach it.
		res.Result.Contains = w.registerResultRefs(spec.OwnerAddress, refs.hs)
	}
	return res
}

// resolveArgs turns arguments into encoded values, fetching references.
// done drops the holds on the references inside the fetched values (the
// task decoded them by then: what it kept, its handles hold); it is nil
// (nothing allocated) when no argument is a reference.
func (w *Worker) resolveArgs(ctx context.Context, args []*rpcpb.Arg, submitter string) (out [][]byte, done doneList, err error) {
	return w.resolveArgsInto(ctx, args, submitter, nil)
}

// resolveArgsInto is resolveArgs into buf's memory when it has room.
func (w *Worker) resolveArgsInto(ctx context.Context, args []*rpcpb.Arg, submitter string, buf [][]byte) (out [][]byte, done doneList, err error) {
	if cap(buf) >= len(args) {
		out = buf[:len(args)]
	} else {
		out = make([][]byte, len(args))
	}
	// Fetches of ready arguments keep the task's CPUs (fetchingArgs): those
	// its submitter owns were ready when it was submitted. The marked
	// contexts are made at the first reference (most calls have none).
	var ready, maybe context.Context
	for i, a := range args {
		if a.Ref == nil {
			out[i] = a.Value
			continue
		}
		var actx context.Context
		if a.Ref.OwnerAddress == submitter {
			if ready == nil {
				ready = context.WithValue(ctx, argsKey{}, aReadyArg)
			}
			actx = ready
		} else {
			if maybe == nil {
				maybe = context.WithValue(ctx, argsKey{}, anArg)
			}
			actx = maybe
		}
		v, d, err := w.GetValue(actx, a.Ref.Id, a.Ref.OwnerAddress)
		if err != nil {
			done.run()
			return nil, nil, err
		}
		done = append(done, d)
		out[i] = v
	}
	return out, done, nil
}

// doneList is a list of calls to make once (resolveArgs).
type doneList []func()

func (d doneList) run() {
	for _, f := range d {
		f()
	}
}

// CancelTask interrupts a running task (its context is cancelled); with
// recursive, then the tasks it submitted (the task first: a child's
// cancellation must not reach it as its own failure); with force the
// worker process exits, after those cancels went out.
func (w *Worker) CancelTask(ctx context.Context, in *rpcpb.CancelTaskRequest) (*rpcpb.Empty, error) {
	w.execMu.Lock()
	rt, ok := w.running[in.TaskId]
	w.execMu.Unlock()
	if ok {
		rt.task.cancel()
	}
	if in.Recursive {
		w.cancelChildren(in.TaskId, in.Force)
	}
	if in.Force && w.isWork && !w.liteHost.Load() { // a host's other actors live on
		go func() {
			time.Sleep(10 * time.Millisecond)
			os.Exit(1)
		}()
	}
	return &rpcpb.Empty{}, nil
}

// Exit ends a worker process, or with an actor id only that lightweight
// actor's instance in this host worker (lite.go).
func (w *Worker) Exit(ctx context.Context, in *rpcpb.ExitRequest) (*rpcpb.ExitReply, error) {
	if in.ActorId != "" {
		if !w.dropInstance(in.ActorId) {
			return nil, status.Errorf(codes.NotFound, "no lightweight actor %s on this worker", in.ActorId)
		}
		return &rpcpb.ExitReply{}, nil
	}
	if !w.isWork {
		return nil, status.Error(codes.FailedPrecondition, "a driver does not exit on request")
	}
	if !in.Force {
		if why := w.stillOwner(); why != "" {
			return &rpcpb.ExitReply{Declined: true, Reason: why}, nil
		}
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		os.Exit(0)
	}()
	return &rpcpb.ExitReply{}, nil
}

// stillOwner says why this worker must stay although idle ("" if it need
// not): other processes borrow objects it owns, or tasks it submitted are
// pending — its exit would turn their Gets into OwnerDiedError — or it
// owns actors whose handles are still counted.
func (w *Worker) stillOwner() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.table.BorrowerAddrs()); n > 0 {
		return fmt.Sprintf("%d processes borrow objects it owns", n)
	}
	if n := len(w.pending); n > 0 {
		return fmt.Sprintf("%d tasks it submitted are pending", n)
	}
	if n := w.table.Actors(); n > 0 {
		// Its exit would end them: a non-detached actor dies with its
		// owner (actors.Directory.WorkerDied).
		return fmt.Sprintf("it owns %d actors whose handles are in use", n)
	}
	return ""
}

// taskContext is a running task's context: it knows the task (ParentTask),
// so the tasks submitted with it are its children, and it ends when the
// task is cancelled (CancelTask) or returns. Its cancellation is a
// context.WithCancel of base made the first time anything needs it (Done,
// Err, a value it does not answer itself, a cancel): a task that never looks
// at its context — a short call — costs no cancel context, no registration
// in base and no cleanup of one.
type taskContext struct {
	base context.Context
	id   string
	// refs are the references the task's result holds (SetResultRefs),
	// when hasRefs (a task's execution, not an actor's constructor).
	refs    resultRefs
	hasRefs bool

	cur   atomic.Pointer[cancelPair] // the cancel context, once made
	mu    sync.Mutex                 // making it
	ended bool                       // the task returned: one made now is cancelled at once
}

type cancelPair struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// inner is the task's cancel context, made on first use.
func (c *taskContext) inner() *cancelPair {
	if p := c.cur.Load(); p != nil {
		return p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.cur.Load()
	if p == nil {
		ctx, cancel := context.WithCancel(c.base)
		p = &cancelPair{ctx: ctx, cancel: cancel}
		if c.ended {
			cancel()
		}
		c.cur.Store(p)
	}
	return p
}

// cancel cancels the task's context (CancelTask).
func (c *taskContext) cancel() { c.inner().cancel() }

// end cancels the context as the task returns, as a deferred cancel of
// context.WithCancel would.
func (c *taskContext) end() {
	c.mu.Lock()
	c.ended = true
	p := c.cur.Load()
	c.mu.Unlock()
	if p != nil {
		p.cancel()
	}
}

func (c *taskContext) Deadline() (time.Time, bool) { return c.base.Deadline() }
func (c *taskContext) Done() <-chan struct{}       { return c.inner().ctx.Done() }
func (c *taskContext) Err() error                  { return c.inner().ctx.Err() }

type taskKey struct{}

func (c *taskContext) Value(k any) any {
	switch k {
	case taskKey{}:
		return c.id
	case resultRefsKey{}:
		if c.hasRefs {
			return &c.refs
		}
	}
	return c.inner().ctx.Value(k)
}

// ParentTask is the id of the task whose context ctx is (or derives from),
// "" outside a task: what a task submits from it is that task's child.
func ParentTask(ctx context.Context) string {
	id, _ := ctx.Value(taskKey{}).(string)
	return id
}
