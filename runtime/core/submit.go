package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/internal/workerenv"
	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
	"github.com/goray-dev/goray/runtime/taskevents"
)

// TaskOptions are the per-call options of a task.
type TaskOptions struct {
	Resources       map[string]float64
	MaxRetries      int // system-failure retries; -1 = infinite
	RetryExceptions bool
	// RetryOn (with RetryExceptions) are the error kinds that retry
	// (ErrorKind); none: any error does.
	RetryOn  []string
	Strategy *rpcpb.SchedulingStrategy
	// EnvVars are the runtime_env variables of the worker it runs in (Ray's
	// runtime_env env_vars); nil: the submitting worker's own, as Ray's
	// children inherit their parent's runtime_env.
	EnvVars map[string]string
	// Backpressure pauses a generator task while this many of its items
	// are not consumed (SubmitGenerator; <= 0: never).
	Backpressure int64
	// Parent is the task this one was submitted from (ParentTask of the
	// submitting task's context; "" from a driver): cancelling the parent
	// cancels it too (Ray's recursive cancel).
	Parent string
	// streaming: a generator task (set by SubmitGenerator). Generators
	// have queues of their own (see queueKey).
	streaming bool
}

// retryOn is what the executor checks a task's error against: the kinds,
// when errors are retried at all.
func (o *TaskOptions) retryOn() []string {
	if !o.RetryExceptions {
		return nil
	}
	return o.RetryOn
}

// Arg is one argument: an encoded value or a reference. Holds are the
// references the task holds until it finished (Worker.Hold: those inside
// Value, and Ref when another process owns it); the task takes them over.
type Arg struct {
	Value []byte
	Ref   *Handle
	Holds *Holds
}

type pendingTask struct {
	spec      *rpcpb.TaskSpec
	args      []*rpcpb.Arg
	opts      TaskOptions
	cancelled bool
	actor     *actorSubmitter
	lw        *leasedWorker
	retries   int // actor task retries left
	resolved  bool
	// described is the attempt (+1) whose first task event, carrying the
	// task's description, went into the event buffer; noted the attempt
	// (+1) that has had any event.
	described, noted int32
	// notes are the attempt's transitions not yet in the buffer, ev the
	// task's open record there and info its description (events.go).
	notes ownerNotes
	ev    taskevents.Handle
	info  *rpcpb.TaskInfo
	// qkey is queueKey(opts), once it was needed.
	qkey string
	// gen is a generator task's stream (generator.go); nil for other tasks.
	gen *genState
	// owned are the arguments this process owns, until the table has them.
	owned []string
	// holds are the references its arguments carry (Arg.Holds), released
	// when it finished: its executor registered what it kept before it
	// replied (runtime/ownership's package doc).
	holds []*Holds
	// actorHold is an actor call's hold on the handle it was made through
	// (CallOptions.Actor), when holdsActor.
	actorHold  ownership.Ref
	holdsActor bool
}

// ReleaseArgs drops the holds of arguments that will not be submitted (the
// call failed before it reached a task).
func (w *Worker) ReleaseArgs(args []Arg) {
	for _, a := range args {
		w.ReleaseHolds(a.Holds)
	}
}

// takeHolds gathers the arguments' holds for the task.
func takeHolds(args []Arg) []*Holds {
	var hs []*Holds
	for _, a := range args {
		if a.Holds != nil {
			hs = append(hs, a.Holds)
		}
	}
	return hs
}

// releaseArgHoldsLocked drops a finished task's holds.
func (w *Worker) releaseArgHoldsLocked(pt *pendingTask) []ownership.Action {
	var acts []ownership.Action
	for _, h := range pt.holds {
		acts = append(acts, w.releaseHoldsOnceLocked(h)...)
	}
	pt.holds = nil
	if pt.holdsActor {
		pt.holdsActor = false
		acts = append(acts, w.releaseHoldLocked(pt.actorHold)...)
	}
	return acts
}

func (w *Worker) buildArgs(args []Arg) ([]*rpcpb.Arg, []string) {
	return w.buildArgsInto(args, nil, nil)
}

// buildArgsInto is buildArgs into the caller's memory where it has room:
// the list in buf's, the values' arguments in vals.
func (w *Worker) buildArgsInto(args []Arg, buf []*rpcpb.Arg, vals []rpcpb.Arg) ([]*rpcpb.Arg, []string) {
	out := buf[:0]
	if cap(out) < len(args) {
		out = make([]*rpcpb.Arg, 0, len(args))
	}
	out = out[:len(args)]
	var owned []string
	for i, a := range args {
		if a.Ref != nil {
			out[i] = &rpcpb.Arg{Ref: &rpcpb.ObjectRef{Id: a.Ref.ID, OwnerAddress: a.Ref.Owner}}
			if a.Ref.Owner == w.addr {
				owned = append(owned, a.Ref.ID)
			}
			continue
		}
		if i < len(vals) {
			vals[i].Value = a.Value
			out[i] = &vals[i]
			continue
		}
		out[i] = &rpcpb.Arg{Value: a.Value}
	}
	return out, owned
}

// oneCPU is the resources of a task that asks for none. It is shared by
// every such task (a map each was a fifth of a queued task's memory) and
// never written: resource maps are read-only once submitted.
var oneCPU = map[string]float64{"CPU": 1}

// SubmitTask submits a registered task and returns the handle of its result.
func (w *Worker) SubmitTask(name string, args []Arg, opts TaskOptions) *Handle {
	id := ids.Seq()
	pargs, owned := w.buildArgs(args)
	if opts.Resources == nil {
		opts.Resources = oneCPU
	}
	// The executor does not need the resources (the lease holds them): the
	// spec stays small on the wire.
	if opts.EnvVars == nil {
		opts.EnvVars = w.envVars
	}
	spec := &rpcpb.TaskSpec{TaskId: id, JobId: w.jobID, Name: name, OwnerAddress: w.addr, RetryOn: opts.retryOn()}
	pt := &pendingTask{spec: spec, args: pargs, opts: opts, holds: takeHolds(args)}
	w.mu.Lock()
	w.table.AddTask(&ownership.Task{ID: id, Spec: pt, Args: owned, Returns: []string{id}, RetriesLeft: opts.MaxRetries})
	w.pending[id] = pt
	w.mu.Unlock()
	h := w.newHandle(id)
	w.enqueue(pt)
	return h
}

// SubmitTaskN submits a registered task with n returns (Ray's
// num_returns): the function returns a slice of n values, each its own
// object with the task as lineage.
func (w *Worker) SubmitTaskN(name string, args []Arg, opts TaskOptions, n int) ([]*Handle, error) {
	if n < 1 || n > maxNumReturns {
		w.ReleaseArgs(args)
		return nil, fmt.Errorf("num_returns %d: want 1 to %d", n, maxNumReturns)
	}
	pt, rets := w.newTask(name, args, &opts, n)
	pt.spec.NumReturns = int32(n)
	hs := w.addTask(pt, rets)
	w.enqueue(pt)
	return hs, nil
}

// SubmitGenerator submits a registered generator task (Ray's
// num_returns="streaming"): its items reach the returned Generator as the
// task yields them.
func (w *Worker) SubmitGenerator(name string, args []Arg, opts TaskOptions) *Generator {
	opts.streaming = true
	pt, rets := w.newTask(name, args, &opts, 1)
	pt.spec.Streaming, pt.spec.GeneratorBackpressure = true, opts.Backpressure
	pt.gen = newGenState(opts.Backpressure)
	w.addTask(pt, nil)
	g := w.newGenerator(rets[0])
	w.enqueue(pt)
	return g
}

// newTask builds a normal task's pending record and names its returns.
func (w *Worker) newTask(name string, args []Arg, opts *TaskOptions, n int) (*pendingTask, []string) {
	id := ids.Seq()
	pargs, owned := w.buildArgs(args)
	if opts.Resources == nil {
		opts.Resources = oneCPU
	}
	if opts.EnvVars == nil {
		opts.EnvVars = w.envVars
	}
	spec := &rpcpb.TaskSpec{TaskId: id, JobId: w.jobID, Name: name, OwnerAddress: w.addr, RetryOn: opts.retryOn()}
	pt := &pendingTask{spec: spec, args: pargs, opts: *opts, owned: owned, holds: takeHolds(args)}
	return pt, returnIDs(id, n)
}

// addTask records a task and its returns in the table; it returns a handle
// to each (none for a generator: its Generator holds the one return).
func (w *Worker) addTask(pt *pendingTask, rets []string) []*Handle {
	id := pt.spec.TaskId
	w.mu.Lock()
	all := rets
	if all == nil {
		all = []string{id}
	}
	w.table.AddTask(&ownership.Task{ID: id, Spec: pt, Args: pt.owned, Returns: all, RetriesLeft: pt.opts.MaxRetries})
	pt.owned = nil
	w.pending[id] = pt
	w.newStreamLocked(pt)
	w.mu.Unlock()
	hs := make([]*Handle, len(rets))
	for i, r := range rets {
		hs[i] = w.newHandle(r)
	}
	return hs
}

// enqueue resolves the task's owned arguments, then queues it for a worker.
func (w *Worker) enqueue(pt *pendingTask) {
	w.mu.Lock()
	if pt.cancelled {
		// Cancelled while it waited for its arguments: Cancel has failed
		// it already, and it must not run.
		w.mu.Unlock()
		return
	}
	wait, failed := w.resolveLocked(pt)
	if failed != nil {
		w.outcomeEvent(pt, failed)
		acts := w.failTaskLocked(pt, failed)
		delete(w.pending, pt.spec.TaskId)
		if s := pt.actor; s != nil {
			// Out of its caller's queue for the actor: the calls after
			// it go on.
			s.queue = slices.DeleteFunc(s.queue, func(q *pendingTask) bool { return q == pt })
			s.readyLocked(w)
		}
		w.mu.Unlock()
		w.do(acts)
		return
	}
	if wait == nil {
		w.direct = true
		w.dispatchTaskLocked(pt)
		w.direct = false
		lws := w.directLWs
		w.directLWs = nil
		w.mu.Unlock()
		for _, lw := range lws {
			w.directSend(lw)
		}
		return
	}
	if !pt.hasEvents() {
		w.ownerEvent(pt, taskevents.PendingArgsAvail)
	}
	w.mu.Unlock()
	go func() {
		select {
		case <-wait:
		case <-w.baseCtx.Done():
			return
		}
		w.enqueue(pt)
	}()
}

// resolveLocked inlines ready owned arguments into the spec. It returns a
// channel to wait on when one is not ready, or the error of a failed one.
func (w *Worker) resolveLocked(pt *pendingTask) (<-chan struct{}, error) {
	args := pt.args // copied before the first owned argument is inlined
	copied := false
	for i, a := range pt.args {
		if a.Ref == nil || a.Ref.OwnerAddress != w.addr {
			continue
		}
		e, ok := w.table.Get(a.Ref.Id)
		if !ok {
			return nil, &ObjectLostError{ObjectID: a.Ref.Id, Reason: "argument was freed"}
		}
		if !e.Ready {
			return e.Done(), nil
		}
		if e.Loc.Err != nil {
			return nil, e.Loc.Err
		}
		if e.Loc.NodeID == "" {
			if !copied {
				args, copied = slices.Clone(pt.args), true
			}
			args[i] = &rpcpb.Arg{Value: e.Loc.Inline}
		}
	}
	pt.spec.Args = args
	pt.resolved = true
	return nil, nil
}

func (w *Worker) dispatchTaskLocked(pt *pendingTask) {
	if pt.actor != nil {
		if !pt.hasEvents() {
			w.ownerEvent(pt, taskevents.PendingArgsAvail)
		}
		pt.actor.readyLocked(w)
		return
	}
	w.ownerEvent(pt, taskevents.PendingNodeAssignment)
	key := pt.queueKey()
	q, ok := w.queues[key]
	if !ok {
		q = w.newQueue(key, pt.opts)
		w.queues[key] = q
	}
	las := q.submit(w.leaseBuf(), pt)
	w.runLocked(q, las, nil, nil)
}

// newQueue is the queue of tasks of opts' shape.
func (w *Worker) newQueue(key string, opts TaskOptions) *schedQueue {
	q := &schedQueue{key: key, res: opts.Resources, strategy: opts.Strategy, streaming: opts.streaming, envVars: opts.EnvVars,
		notRetriable: opts.MaxRetries == 0}
	q.noFast = opts.Strategy.GetKind() == rpcpb.SchedulingStrategy_SPREAD || opts.streaming
	q.closed = w.closing
	q.idle, q.now = w.cfg.LeaseIdle, time.Now
	q.retry = func(pt *pendingTask) bool { return w.table.Retry(pt.spec.TaskId) }
	return q
}

// cpu1Key is the key of the common shape (one CPU, default strategy).
var cpu1Key = slowQueueKey(TaskOptions{Resources: map[string]float64{"CPU": 1}, MaxRetries: 3})

// queueKey names the queue of tasks of o's shape. Generators of a shape
// have a queue apart from its other tasks, which is never fast: a
// generator runs as long as its stream, and a task pipelined behind it on
// its worker would wait for the stream's end (forever, under backpressure,
// with its consumer waiting on that task).
// queueKey is the task's scheduling queue's key, worked out once.
func (pt *pendingTask) queueKey() string {
	if pt.qkey == "" {
		pt.qkey = queueKey(pt.opts)
	}
	return pt.qkey
}

func queueKey(o TaskOptions) string {
	if o.Strategy == nil && len(o.Resources) == 1 && o.Resources["CPU"] == 1 && !o.streaming && len(o.EnvVars) == 0 && o.MaxRetries != 0 {
		return cpu1Key
	}
	if o.streaming {
		return slowQueueKey(o) + "|generator"
	}
	return slowQueueKey(o)
}

func slowQueueKey(o TaskOptions) string {
	s := o.Strategy
	key := fmt.Sprintf("%s|%d|%s|%v|%s|%d", scheduler.Resources(o.Resources).Key(), s.GetKind(), s.GetNodeId(), s.GetSoft(), s.GetPlacementGroupId(), s.GetBundleIndex())
	if sel := s.GetLabelSelector(); len(sel) > 0 {
		// Workers leased for one selector's nodes serve no other.
		key += "|" + scheduler.Selector(sel).String()
	}
	if len(o.EnvVars) > 0 {
		// Workers started for one set of variables serve no other.
		key += "|env:" + workerenv.EnvVarsKey(o.EnvVars)
	}
	if o.MaxRetries == 0 {
		// The node's memory monitor spares leases of tasks that cannot be
		// retried while others run: a lease says which it serves.
		key += "|noretry"
	}
	return key
}

// schedQueue holds the ready tasks of one shape and the workers leased for
// them: its bookkeeping is the leaseBook's (leasebook.go), the rest is what
// its lease requests ask for.
type schedQueue struct {
	leaseBook
	key      string
	res      map[string]float64
	strategy *rpcpb.SchedulingStrategy
	envVars  map[string]string
	// cancel cancels the lease requests in flight.
	cancel []context.CancelFunc
	// streaming: a queue of generator tasks (never fast, see queueKey).
	streaming bool
	// notRetriable: its tasks have no retries (told to the node's memory monitor).
	notRetriable bool
}

type leasedWorker struct {
	q         *schedQueue
	lease     *rpcpb.LeaseReply
	node      rpcpb.NodeManagerClient
	nodeAddr  string           // the node manager that granted the lease (asked when the GCS calls its node dead)
	where     *rpcpb.TaskWhere // the lease's node and worker, for task events
	stream    rpcpb.CoreWorker_PushTasksClient
	cancel    context.CancelFunc
	out       chan []*rpcpb.TaskSpec
	inflight  map[string]*pendingTask
	dead      bool
	idleAt    time.Time   // when it last ran out of work
	idleTimer *time.Timer // returns the lease after LeaseIdle idle
	// sendMu serializes stream sends: the sender goroutine's, and a
	// submitter's own when it found the stream idle (see directSend).
	sendMu sync.Mutex
	// direct is the batch a submitter sends itself after unlocking w.mu.
	direct []*rpcpb.TaskSpec
}

const maxLeaseRequests = 8

// leaseRetryBase and leaseRetryMax bound the backoff between failed lease
// calls (a node manager gone, a head restarting).
const (
	leaseRetryBase = 100 * time.Millisecond
	leaseRetryMax  = 2 * time.Second
)

// spillbackTimeout bounds a grant-or-reject lease request to another node:
// longer than a worker start (30s to register), so a live node answers.
const spillbackTimeout = 40 * time.Second

// leaseBuf is the buffer the lease books' actions go in: reused, so that
// dispatching a task allocates nothing for them. runLocked gives it back;
// a book called while its actions run (none is) would get a fresh one.
func (w *Worker) leaseBuf() []leaseAct {
	b := w.leaseActs
	w.leaseActs = nil
	return b[:0]
}

// runLocked executes a queue's book's actions (r: the result they are
// about, for finish, retry after an error and drop; wg: Done once a
// returned lease's node answered) and gives the buffer back. The
// ownership actions are the caller's to do after unlocking.
func (w *Worker) runLocked(q *schedQueue, las []leaseAct, r *rpcpb.TaskResult, wg *sync.WaitGroup) []ownership.Action {
	var acts []ownership.Action
	for i := range las {
		a := &las[i]
		switch a.kind {
		case actPush:
			lw := a.lw
			batch := make([]*rpcpb.TaskSpec, len(a.tasks))
			for i, pt := range a.tasks {
				batch[i] = pt.spec
			}
			w.submittedEvents(a.tasks)
			if w.direct && len(lw.out) == 0 && lw.direct == nil {
				// The submitting goroutine sends it itself once it unlocks:
				// no handoff to the sender goroutine on the synchronous path.
				lw.direct = batch
				w.directLWs = append(w.directLWs, lw)
				continue
			}
			lw.out <- batch
		case actRequestLease:
			w.leaseReqs.Add(1)
			ctx, cancel := context.WithCancel(w.baseCtx)
			q.cancel = append(q.cancel, cancel)
			go w.requestLease(ctx, q)
		case actCancelRequests:
			for _, c := range q.cancel {
				c()
			}
			q.cancel = nil
		case actArmIdle:
			lw := a.lw
			if lw.idleTimer == nil {
				lw.idleTimer = time.AfterFunc(a.delay, func() { w.idleCheck(lw) })
			} else {
				lw.idleTimer.Reset(a.delay)
			}
		case actReturnLease:
			w.giveBackLocked(a.lw, a.broken, wg)
		case actDropLease:
			lw := a.lw
			if lw.idleTimer != nil {
				lw.idleTimer.Stop()
			}
			close(lw.out)
			lw.cancel()
		case actRetry:
			pt := a.pt
			if a.broken {
				w.outcomeEvent(pt, a.err)
			} else {
				w.resultEvent(pt, r, a.lw.where)
			}
			pt.spec.Attempt++
			w.beforeAttemptLocked(pt)
			if a.broken {
				w.startRecoveryLocked(pt.spec.TaskId)
			}
			w.ownerEvent(pt, taskevents.PendingNodeAssignment)
		case actFail:
			w.outcomeEvent(a.pt, a.err)
			delete(w.pending, a.pt.spec.TaskId)
			acts = append(acts, w.failTaskLocked(a.pt, a.err)...)
		case actFinish:
			w.resultEvent(a.pt, r, a.lw.where)
			delete(w.pending, a.pt.spec.TaskId)
			acts = append(acts, w.finishLocked(a.pt, r)...)
		case actDropResult:
			acts = append(acts, w.dropResultLocked(r)...)
		case actCancelOnWorker:
			// Cancel makes the call, after unlocking.
		}
	}
	clear(las)
	w.leaseActs = las[:0]
	return acts
}

// giveBackLocked closes a leased worker's stream and returns its lease in
// the background: broken (its worker is killed; the stream broke), or idle
// (the node keeps the worker for more leases).
func (w *Worker) giveBackLocked(lw *leasedWorker, broken bool, wg *sync.WaitGroup) {
	if lw.idleTimer != nil {
		lw.idleTimer.Stop()
	}
	if broken {
		close(lw.out)
	} else {
		lw.out <- nil
	}
	go func() {
		if broken {
			lw.cancel()
		}
		// Bounded: the node may be dead with its connection hanging.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = lw.node.ReturnWorker(ctx, &rpcpb.ReturnWorkerRequest{LeaseId: lw.lease.LeaseId, WorkerBroken: broken})
		lw.cancel()
		if wg != nil {
			wg.Done()
		}
	}()
}

// batch is the message that carries tasks to the leased worker: with the
// lease's CPUs for normal tasks (the worker sizes its scheduler to them), 0
// for an actor's calls.
func (lw *leasedWorker) batch(tasks []*rpcpb.TaskSpec) *rpcpb.TaskBatch {
	b := &rpcpb.TaskBatch{Tasks: tasks}
	if lw.q != nil {
		b.LeaseCpus = max(1, lw.q.res["CPU"])
		b.GpuIds, b.SetGpus = lw.lease.GetGpuIds(), lw.lease.GetNodeHasGpus()
	}
	return b
}

// pushTarget is where to stream a leased worker its tasks: its unix socket
// when it is on this machine (a round trip costs much less than over TCP
// loopback), else its address.
func pushTarget(rep *rpcpb.LeaseReply) string {
	if rpcutil.LocalSocket(rep.WorkerSocket) {
		return "unix://" + rep.WorkerSocket
	}
	return rep.WorkerAddress
}

// directSend sends the batch a submitter took on in runLocked. A send
// error is the receiver's to notice (the batch is in flight and is retried).
func (w *Worker) directSend(lw *leasedWorker) {
	lw.sendMu.Lock()
	defer lw.sendMu.Unlock()
	w.mu.Lock()
	batch := lw.direct
	lw.direct = nil
	w.mu.Unlock()
	if batch != nil {
		_ = lw.stream.Send(lw.batch(batch))
	}
}

func (w *Worker) sender(lw *leasedWorker) {
	for batch := range lw.out {
		lw.sendMu.Lock()
		if !w.sendBatch(lw, batch) {
			lw.sendMu.Unlock()
			return
		}
		lw.sendMu.Unlock()
	}
}

// sendBatch sends a batch and what is queued behind it in one message; false
// once the stream is closed or broken.
func (w *Worker) sendBatch(lw *leasedWorker, batch []*rpcpb.TaskSpec) bool {
	{
		if batch == nil {
			_ = lw.stream.CloseSend()
			return false
		}
		// Coalesce what is already queued into one message.
	more:
		for len(batch) < 4096 {
			select {
			case b := <-lw.out:
				if b == nil {
					_ = lw.stream.Send(lw.batch(batch))
					_ = lw.stream.CloseSend()
					return false
				}
				batch = append(batch, b...)
			default:
				break more
			}
		}
		// On error the receiver sees the failure.
		return lw.stream.Send(lw.batch(batch)) == nil
	}
}

func (w *Worker) receiver(lw *leasedWorker) {
	for {
		rb, err := lw.stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) && status.Code(err) != codes.Canceled {
				w.workerFailed(lw, err)
			} else {
				w.workerFailed(lw, fmt.Errorf("stream closed"))
			}
			return
		}
		var acts []ownership.Action
		q := lw.q
		w.mu.Lock()
		for _, r := range rb.Results {
			o := taskOutcome{execUs: float64(r.ExecMicros), sysErr: r.SystemError}
			if e := r.Result.GetError(); e != nil && e.Kind == rpcpb.ErrorInfo_TASK {
				o.taskErr, o.retryable = true, e.Retryable
			}
			acts = append(acts, w.runLocked(q, q.result(w.leaseBuf(), lw, r.TaskId, o), r, nil)...)
		}
		acts = append(acts, w.runLocked(q, q.resultsDone(w.leaseBuf(), lw), nil, nil)...)
		w.mu.Unlock()
		w.do(acts)
	}
}

func locationOf(o *rpcpb.Object) ownership.Location {
	switch {
	case o == nil:
		return ownership.Location{Err: &WorkerCrashedError{Message: "empty result"}}
	case o.Error != nil:
		return ownership.Location{Err: errorFromInfo(o.Error)}
	case o.InStore:
		return ownership.Location{NodeID: o.NodeId, Size: o.Size}
	}
	return ownership.Location{Inline: o.Data, Size: int64(len(o.Data))}
}

// workerFailed handles a broken stream: in-flight tasks are retried or failed.
func (w *Worker) workerFailed(lw *leasedWorker, cause error) {
	oom := w.killedForMemory(lw, cause)
	w.mu.Lock()
	q := lw.q
	acts := w.runLocked(q, q.streamBroken(w.leaseBuf(), lw, cause, oom), nil, nil)
	w.mu.Unlock()
	w.do(acts)
}

// failureCauseTimeout bounds the question to a node about a worker's end
// (a dead node's connection may hang; its tasks' failure must not).
const failureCauseTimeout = time.Second

// killedForMemory asks the lease's node whether its memory monitor killed
// the worker (the stream broke; a node that died says nothing): the
// monitor's reason, or "".
func (w *Worker) killedForMemory(lw *leasedWorker, cause error) string {
	var nd *NodeDiedError
	if errors.As(cause, &nd) || lw.node == nil || lw.lease == nil {
		return ""
	}
	w.mu.Lock()
	n := len(lw.inflight)
	w.mu.Unlock()
	if n == 0 {
		return "" // no task to tell
	}
	ctx, cancel := context.WithTimeout(context.Background(), failureCauseTimeout)
	defer cancel()
	// The node marks a worker it kills for memory before the kill, so the
	// answer holds even when it has not yet seen the process end.
	c, err := lw.node.GetWorkerFailureCause(ctx, &rpcpb.WorkerFailureCauseRequest{WorkerId: lw.lease.WorkerId})
	if err != nil || c.ExitType != "NODE_OUT_OF_MEMORY" {
		return ""
	}
	return c.ExitDetail
}
