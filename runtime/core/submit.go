package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
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
	Strategy        *rpcpb.SchedulingStrategy
	// Backpressure pauses a generator task while this many of its items
	// are not consumed (SubmitGenerator; <= 0: never).
	Backpressure int64
	// streaming: a generator task (set by SubmitGenerator). Generators
	// have queues of their own (see queueKey).
	streaming bool
}

// Arg is one argument: an encoded value or a reference.
type Arg struct {
	Value []byte
	Ref   *Handle
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
	// task's description, was recorded.
	described int32
	// ev is the task's open record in the event buffer (events.go).
	ev taskevents.Handle
	// gen is a generator task's stream (generator.go); nil for other tasks.
	gen *genState
	// owned are the arguments this process owns, until the table has them.
	owned []string
}

func (w *Worker) buildArgs(args []Arg) ([]*rpcpb.Arg, []string) {
	out := make([]*rpcpb.Arg, len(args))
	var owned []string
	for i, a := range args {
		if a.Ref != nil {
			out[i] = &rpcpb.Arg{Ref: &rpcpb.ObjectRef{Id: a.Ref.ID, OwnerAddress: a.Ref.Owner}}
			if a.Ref.Owner == w.addr {
				owned = append(owned, a.Ref.ID)
			}
		} else {
			out[i] = &rpcpb.Arg{Value: a.Value}
		}
	}
	return out, owned
}

// SubmitTask submits a registered task and returns the handle of its result.
func (w *Worker) SubmitTask(name string, args []Arg, opts TaskOptions) *Handle {
	id := ids.Seq()
	pargs, owned := w.buildArgs(args)
	if opts.Resources == nil {
		opts.Resources = map[string]float64{"CPU": 1}
	}
	// The executor does not need the resources (the lease holds them): the
	// spec stays small on the wire.
	spec := &rpcpb.TaskSpec{TaskId: id, JobId: w.jobID, Name: name, OwnerAddress: w.addr}
	pt := &pendingTask{spec: spec, args: pargs, opts: opts}
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
		opts.Resources = map[string]float64{"CPU": 1}
	}
	spec := &rpcpb.TaskSpec{TaskId: id, JobId: w.jobID, Name: name, OwnerAddress: w.addr}
	pt := &pendingTask{spec: spec, args: pargs, opts: *opts, owned: owned}
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
	if !pt.isDescribed() {
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
	args := make([]*rpcpb.Arg, len(pt.args))
	for i, a := range pt.args {
		args[i] = a
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
			args[i] = &rpcpb.Arg{Value: e.Loc.Inline}
		}
	}
	pt.spec.Args = args
	pt.resolved = true
	return nil, nil
}

func (w *Worker) dispatchTaskLocked(pt *pendingTask) {
	if pt.actor != nil {
		if !pt.isDescribed() {
			w.ownerEvent(pt, taskevents.PendingArgsAvail)
		}
		pt.actor.readyLocked(w)
		return
	}
	w.ownerEvent(pt, taskevents.PendingNodeAssignment)
	key := queueKey(pt.opts)
	q, ok := w.queues[key]
	if !ok {
		q = &schedQueue{key: key, res: pt.opts.Resources, strategy: pt.opts.Strategy, streaming: pt.opts.streaming}
		w.queues[key] = q
	}
	q.ready = append(q.ready, pt)
	w.dispatchLocked(q)
}

// cpu1Key is the key of the common shape (one CPU, default strategy).
var cpu1Key = slowQueueKey(TaskOptions{Resources: map[string]float64{"CPU": 1}})

// queueKey names the queue of tasks of o's shape. Generators of a shape
// have a queue apart from its other tasks, which is never fast: a
// generator runs as long as its stream, and a task pipelined behind it on
// its worker would wait for the stream's end (forever, under backpressure,
// with its consumer waiting on that task).
func queueKey(o TaskOptions) string {
	if o.Strategy == nil && len(o.Resources) == 1 && o.Resources["CPU"] == 1 && !o.streaming {
		return cpu1Key
	}
	if o.streaming {
		return slowQueueKey(o) + "|generator"
	}
	return slowQueueKey(o)
}

func slowQueueKey(o TaskOptions) string {
	s := o.Strategy
	return fmt.Sprintf("%s|%d|%s|%v|%s|%d", scheduler.Resources(o.Resources).Key(), s.GetKind(), s.GetNodeId(), s.GetSoft(), s.GetPlacementGroupId(), s.GetBundleIndex())
}

// schedQueue holds the ready tasks of one shape and the workers leased for them.
type schedQueue struct {
	key      string
	res      map[string]float64
	strategy *rpcpb.SchedulingStrategy
	ready    []*pendingTask
	workers  []*leasedWorker
	leasing  int
	cancel   []context.CancelFunc
	// relaunch: its lease requests were cancelled because the driver moved
	// to another node; the last one to return asks again.
	relaunch bool
	fast     bool // tasks of this shape run in well under a millisecond
	// streaming: a queue of generator tasks (never fast, see queueKey).
	streaming bool
	ewmaUs    float64 // average execution time
	sawFirst  bool
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

func (q *schedQueue) depth() int {
	if q.fast {
		return 512
	}
	return 1
}

// dispatchLocked pushes ready tasks to leased workers and asks for more leases.
func (w *Worker) dispatchLocked(q *schedQueue) {
	for _, lw := range q.workers {
		if len(q.ready) == 0 {
			break
		}
		if lw.dead {
			continue
		}
		n := min(q.depth()-len(lw.inflight), len(q.ready))
		if n <= 0 {
			continue
		}
		batch := make([]*rpcpb.TaskSpec, 0, n)
		for _, pt := range q.ready[:n] {
			pt.lw = lw
			lw.inflight[pt.spec.TaskId] = pt
			batch = append(batch, pt.spec)
		}
		w.submittedEvents(q.ready[:n])
		q.ready = q.ready[n:]
		if w.direct && len(lw.out) == 0 && lw.direct == nil {
			// The submitting goroutine sends it itself once it unlocks:
			// no handoff to the sender goroutine on the synchronous path.
			lw.direct = batch
			w.directLWs = append(w.directLWs, lw)
			continue
		}
		lw.out <- batch
	}
	if len(q.ready) == 0 {
		q.ready = nil
		for _, c := range q.cancel {
			c()
		}
		q.cancel = nil
		return
	}
	want := len(q.ready)
	if q.fast {
		want = 1
	}
	for !w.closing && q.leasing < min(want, maxLeaseRequests) {
		q.leasing++
		w.leaseReqs.Add(1)
		ctx, cancel := context.WithCancel(w.baseCtx)
		q.cancel = append(q.cancel, cancel)
		go w.requestLease(ctx, q)
	}
}

// requestLease asks the local node manager for a worker, following spillbacks.
func (w *Worker) requestLease(ctx context.Context, q *schedQueue) {
	defer w.leaseReqs.Done()
	defer func() {
		w.mu.Lock()
		q.leasing--
		if q.relaunch && q.leasing == 0 {
			// Cancelled because the driver moved to another node: ask
			// that one for what is still queued.
			q.relaunch = false
			w.dispatchLocked(q)
		}
		w.mu.Unlock()
	}()
	at := w.att.get()
	client, addr := at.client, at.addr
	fails := 0 // failed calls in a row: the backoff grows with them
	req := &rpcpb.LeaseRequest{JobId: w.jobID, BinaryHash: w.binaryHash, Resources: q.res, Strategy: q.strategy}
	if q.strategy.GetKind() == rpcpb.SchedulingStrategy_PLACEMENT_GROUP {
		c, a, err := w.pgNodeClient(ctx, q.strategy)
		if err != nil {
			w.failQueue(q, err)
			return
		}
		client, addr = c, a
	}
	for hops := 0; ctx.Err() == nil; hops++ {
		rctx, rcancel := ctx, context.CancelFunc(func() {})
		if req.GrantOrReject {
			// A spillback target answers at once (at most a worker start);
			// one whose host vanished would otherwise hold this request, and
			// a slot of maxLeaseRequests, forever. A grant that races the
			// deadline is freed by the node (it checks the request's context).
			rctx, rcancel = context.WithTimeout(ctx, spillbackTimeout)
		}
		req.LeaseId = ids.New()
		rep, err := client.RequestWorkerLease(rctx, req)
		rcancel()
		if err != nil {
			// Cancelled (no more queued tasks, shutdown) or timed out: the
			// node may have granted the lease as the reply was dropped.
			// Return it by the id we chose; unknown ids are a no-op. Sent
			// after the cancellation on the same connection, it reaches the
			// node after the request's context is cancelled there, and a
			// grant recorded after that is freed by the node itself.
			w.returnUnseenLease(client, req.LeaseId)
			if ctx.Err() != nil {
				return
			}
			if client == at.client && status.Code(err) == codes.Unavailable {
				// No node manager at the attached address (the head's
				// node died with the head): a driver attaches elsewhere.
				at = w.nodeLost(at, err)
			} else {
				at = w.att.get()
			}
			w.warn.printf(w.log, "lease request failed (will retry): %v", err)
			if sleepCtx(ctx, backoffDelay(leaseRetryBase, leaseRetryMax, fails)) != nil {
				return
			}
			fails++
			client, addr, req.GrantOrReject = at.client, at.addr, false
			continue
		}
		fails = 0
		switch {
		case rep.Granted:
			w.attach(q, client, addr, rep)
			return
		case rep.SpillbackAddress != "":
			c, err := w.pool.Get(rep.SpillbackAddress)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			client, addr, req.GrantOrReject = rpcpb.NewNodeManagerClient(c), rep.SpillbackAddress, true
		case rep.Rejected:
			if q.strategy.GetKind() == rpcpb.SchedulingStrategy_NODE_AFFINITY && !q.strategy.Soft && !req.GrantOrReject {
				w.failQueue(q, &UnschedulableError{Message: rep.Message})
				return
			}
			time.Sleep(20 * time.Millisecond)
			at = w.att.get()
			client, addr, req.GrantOrReject = at.client, at.addr, false
			if q.strategy.GetKind() == rpcpb.SchedulingStrategy_PLACEMENT_GROUP {
				if c, a, err := w.pgNodeClient(ctx, q.strategy); err == nil {
					client, addr = c, a
				}
			}
		}
	}
}

// returnUnseenLease returns a lease whose grant reply never arrived.
func (w *Worker) returnUnseenLease(c rpcpb.NodeManagerClient, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.ReturnWorker(ctx, &rpcpb.ReturnWorkerRequest{LeaseId: id})
}

func (w *Worker) failQueue(q *schedQueue, err error) {
	w.mu.Lock()
	ready := q.ready
	q.ready = nil
	var acts []ownership.Action
	for _, pt := range ready {
		if ue := (*UnschedulableError)(nil); errors.As(err, &ue) {
			err = &UnschedulableError{TaskName: pt.spec.Name, Message: ue.Message}
		}
		w.outcomeEvent(pt, err)
		acts = append(acts, w.failTaskLocked(pt, err)...)
		delete(w.pending, pt.spec.TaskId)
	}
	w.mu.Unlock()
	w.do(acts)
}

// attach opens the task stream to a leased worker.
func (w *Worker) attach(q *schedQueue, node rpcpb.NodeManagerClient, nodeAddr string, rep *rpcpb.LeaseReply) {
	conn, err := w.pool.Get(pushTarget(rep))
	var stream rpcpb.CoreWorker_PushTasksClient
	ctx, cancel := context.WithCancel(w.baseCtx)
	if err == nil {
		stream, err = rpcpb.NewCoreWorkerClient(conn).PushTasks(ctx)
	}
	if err != nil {
		cancel()
		_, _ = node.ReturnWorker(context.Background(), &rpcpb.ReturnWorkerRequest{LeaseId: rep.LeaseId, WorkerBroken: true})
		w.mu.Lock()
		w.dispatchLocked(q)
		w.mu.Unlock()
		return
	}
	lw := &leasedWorker{q: q, lease: rep, node: node, nodeAddr: nodeAddr, stream: stream, cancel: cancel,
		out: make(chan []*rpcpb.TaskSpec, 1024), inflight: map[string]*pendingTask{},
		where: &rpcpb.TaskWhere{NodeId: rep.NodeId, WorkerId: rep.WorkerId, WorkerPid: rep.WorkerPid}}
	go w.sender(lw)
	go w.receiver(lw)
	w.mu.Lock()
	q.workers = append(q.workers, lw)
	w.dispatchLocked(q)
	w.maybeIdleLocked(lw)
	w.mu.Unlock()
}

// batch is the message that carries tasks to the leased worker: with the
// lease's CPUs for normal tasks (the worker sizes its scheduler to them), 0
// for an actor's calls.
func (lw *leasedWorker) batch(tasks []*rpcpb.TaskSpec) *rpcpb.TaskBatch {
	b := &rpcpb.TaskBatch{Tasks: tasks}
	if lw.q != nil {
		b.LeaseCpus = max(1, lw.q.res["CPU"])
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

// directSend sends the batch a submitter took on in dispatchLocked. A send
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
		w.mu.Lock()
		for _, r := range rb.Results {
			acts = append(acts, w.completeLocked(lw, r)...)
		}
		w.dispatchLocked(lw.q)
		w.maybeIdleLocked(lw)
		w.mu.Unlock()
		w.do(acts)
	}
}

// completeLocked records one task result, retrying when allowed.
func (w *Worker) completeLocked(lw *leasedWorker, r *rpcpb.TaskResult) []ownership.Action {
	pt, ok := lw.inflight[r.TaskId]
	if !ok {
		return nil
	}
	delete(lw.inflight, r.TaskId)
	q := lw.q
	us := float64(r.ExecMicros)
	if !q.sawFirst {
		q.ewmaUs, q.sawFirst = us, true
	} else {
		q.ewmaUs = 0.9*q.ewmaUs + 0.1*us
	}
	// A SPREAD queue never counts as fast: a fast queue pipelines its
	// tasks onto one leased worker and asks for one lease, which would run
	// every task on one node.
	q.fast = q.ewmaUs < 1000 && q.strategy.GetKind() != rpcpb.SchedulingStrategy_SPREAD && !q.streaming
	if r.SystemError != "" {
		return w.retryOrFailLocked(pt, &WorkerCrashedError{TaskName: pt.spec.Name, Message: r.SystemError})
	}
	res := r.Result
	w.resultEvent(pt, r, lw.where)
	if res.GetError() != nil && res.Error.Kind == rpcpb.ErrorInfo_TASK && pt.opts.RetryExceptions && !pt.cancelled {
		if w.table.Retry(pt.spec.TaskId) {
			pt.spec.Attempt++
			w.beforeAttemptLocked(pt)
			w.ownerEvent(pt, taskevents.PendingNodeAssignment)
			q.ready = append(q.ready, pt)
			return nil
		}
	}
	delete(w.pending, pt.spec.TaskId)
	return w.finishLocked(pt, r)
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

func (w *Worker) retryOrFailLocked(pt *pendingTask, cause error) []ownership.Action {
	if pt.cancelled {
		delete(w.pending, pt.spec.TaskId)
		err := &TaskCancelledError{TaskID: pt.spec.TaskId}
		w.outcomeEvent(pt, err)
		return w.failTaskLocked(pt, err)
	}
	w.outcomeEvent(pt, cause)
	if w.table.Retry(pt.spec.TaskId) {
		pt.spec.Attempt++
		w.beforeAttemptLocked(pt)
		w.ownerEvent(pt, taskevents.PendingNodeAssignment)
		pt.lw = nil
		q := w.queues[queueKey(pt.opts)]
		q.ready = append([]*pendingTask{pt}, q.ready...)
		return nil
	}
	delete(w.pending, pt.spec.TaskId)
	return w.failTaskLocked(pt, cause)
}

// workerFailed handles a broken stream: in-flight tasks are retried or failed.
func (w *Worker) workerFailed(lw *leasedWorker, cause error) {
	w.mu.Lock()
	if lw.dead {
		w.mu.Unlock()
		return
	}
	lw.dead = true
	q := lw.q
	for i, x := range q.workers {
		if x == lw {
			q.workers = append(q.workers[:i], q.workers[i+1:]...)
			break
		}
	}
	var acts []ownership.Action
	for _, pt := range lw.inflight {
		acts = append(acts, w.retryOrFailLocked(pt, &WorkerCrashedError{TaskName: pt.spec.Name, Message: cause.Error()})...)
	}
	lw.inflight = nil
	close(lw.out)
	w.dispatchLocked(q)
	w.mu.Unlock()
	lw.cancel()
	go func() {
		// Bounded: the node may be dead with its connection hanging.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = lw.node.ReturnWorker(ctx, &rpcpb.ReturnWorkerRequest{LeaseId: lw.lease.LeaseId, WorkerBroken: true})
	}()
	w.do(acts)
}

// maybeIdleLocked returns the lease after LeaseIdle without work. One timer
// per leased worker is re-armed (no goroutine per finished task).
func (w *Worker) maybeIdleLocked(lw *leasedWorker) {
	if lw.dead || len(lw.inflight) > 0 || len(lw.q.ready) > 0 {
		return
	}
	lw.idleAt = time.Now()
	if lw.idleTimer == nil {
		lw.idleTimer = time.AfterFunc(w.cfg.LeaseIdle, func() { w.idleCheck(lw) })
	} else {
		lw.idleTimer.Reset(w.cfg.LeaseIdle)
	}
}

// idleCheck returns a lease idle for LeaseIdle; one that got work since is
// left alone (its next idle moment re-arms the timer).
func (w *Worker) idleCheck(lw *leasedWorker) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if lw.dead || len(lw.inflight) > 0 {
		return
	}
	if d := w.cfg.LeaseIdle - time.Since(lw.idleAt); d > 0 {
		lw.idleTimer.Reset(d)
		return
	}
	w.returnLeaseLocked(lw, false, nil)
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// returnLeaseLocked gives a lease back to its node in the background; a
// non-nil wg is Done once the node answered (or at once when the lease was
// already returned).
func (w *Worker) returnLeaseLocked(lw *leasedWorker, broken bool, wg *sync.WaitGroup) {
	if lw.dead {
		if wg != nil {
			wg.Done()
		}
		return
	}
	if lw.idleTimer != nil {
		lw.idleTimer.Stop()
	}
	lw.dead = true
	q := lw.q
	for i, x := range q.workers {
		if x == lw {
			q.workers = append(q.workers[:i], q.workers[i+1:]...)
			break
		}
	}
	lw.out <- nil
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = lw.node.ReturnWorker(ctx, &rpcpb.ReturnWorkerRequest{LeaseId: lw.lease.LeaseId, WorkerBroken: broken})
		lw.cancel()
		if wg != nil {
			wg.Done()
		}
	}()
}

// Cancel cancels a task: dropped if queued, interrupted (its context
// cancelled) if running, its process killed with force. Cancelled tasks are
// not retried; Get returns TaskCancelledError. id names the task by any of
// its returns (num_returns > 1) or its generator.
func (w *Worker) Cancel(id string, force bool) error {
	w.mu.Lock()
	if e, ok := w.table.Get(id); ok && e.TaskID != "" {
		id = e.TaskID
	}
	pt, ok := w.pending[id]
	if !ok {
		w.mu.Unlock()
		return nil
	}
	pt.cancelled = true
	if pt.lw == nil && pt.actor == nil {
		for _, q := range w.queues {
			for i, x := range q.ready {
				if x == pt {
					q.ready = append(q.ready[:i], q.ready[i+1:]...)
					break
				}
			}
		}
		delete(w.pending, id)
		err := &TaskCancelledError{TaskID: id}
		w.outcomeEvent(pt, err)
		acts := w.failTaskLocked(pt, err)
		w.mu.Unlock()
		w.do(acts)
		return nil
	}
	var addr string
	if pt.lw != nil {
		addr = pt.lw.lease.WorkerAddress
	} else if pt.actor != nil {
		addr = pt.actor.addr
		force = false // as in Ray, actor tasks are not force-cancelled
	}
	w.mu.Unlock()
	if addr == "" {
		return nil
	}
	c, err := w.pool.Get(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = rpcpb.NewCoreWorkerClient(c).CancelTask(ctx, &rpcpb.CancelTaskRequest{TaskId: id, Force: force})
	return err
}

// pgNodeClient is the node manager holding the strategy's bundle, and its address.
func (w *Worker) pgNodeClient(ctx context.Context, s *rpcpb.SchedulingStrategy) (rpcpb.NodeManagerClient, string, error) {
	info, err := w.gcs.GetPlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: s.PlacementGroupId, Wait: true})
	if err != nil {
		return nil, "", err
	}
	if info.State != "CREATED" {
		return nil, "", &UnschedulableError{Message: "placement group " + s.PlacementGroupId + " is " + info.State}
	}
	idx := int(s.BundleIndex)
	if idx < 0 || idx >= len(info.BundleAddresses) {
		idx = 0
	}
	c, err := w.pool.Get(info.BundleAddresses[idx])
	if err != nil {
		return nil, "", err
	}
	return rpcpb.NewNodeManagerClient(c), info.BundleAddresses[idx], nil
}
