package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// ActorOptions are the options of an actor's creation.
type ActorOptions struct {
	Resources      map[string]float64
	MaxRestarts    int
	MaxConcurrency int
	Name           string
	Namespace      string
	Detached       bool
	GetIfExists    bool
	Strategy       *rpcpb.SchedulingStrategy
	// EnvVars are the actor's runtime_env variables (see TaskOptions).
	EnvVars map[string]string
	// ConcurrencyGroups are the actor's named groups of calls and how many
	// each runs at once (groups.go).
	ConcurrencyGroups map[string]int32
	// Lightweight runs the actor as an instance in a host worker shared
	// with the job's other lightweight actors on its node (lite.go).
	Lightweight bool
}

// NewActor registers an actor with the GCS, which places it and runs its
// constructor; calls queue until it is alive.
func (w *Worker) NewActor(ctx context.Context, class string, args []Arg, opts ActorOptions) (string, error) {
	info, err := w.NewActorInfo(ctx, class, args, opts)
	if err != nil {
		return "", err
	}
	return info.ActorId, nil
}

// NewActorInfo is NewActor returning the GCS's record of the actor: with
// get-if-exists an actor another process created (OwnerAddress says whose).
func (w *Worker) NewActorInfo(ctx context.Context, class string, args []Arg, opts ActorOptions) (_ *rpcpb.ActorInfo, err error) {
	// The references the arguments carry are held until the constructor
	// ran (holdUntilConstructed), or dropped here if the actor is not made.
	holds := takeHolds(args)
	defer func() {
		if err != nil {
			for _, h := range holds {
				w.ReleaseHolds(h)
			}
		}
	}()
	pargs, _ := w.buildArgs(args)
	// Owned references are resolved here: the constructor runs elsewhere.
	for i, a := range pargs {
		if a.Ref == nil || a.Ref.OwnerAddress != w.addr {
			continue
		}
		if ok, ch := w.Ready(a.Ref.Id); !ok {
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		w.mu.Lock()
		e, ok := w.table.Get(a.Ref.Id)
		if ok && e.Ready && e.Loc.Err != nil {
			w.mu.Unlock()
			return nil, e.Loc.Err
		}
		if ok && e.Ready && e.Loc.NodeID == "" {
			pargs[i] = &rpcpb.Arg{Value: e.Loc.Inline}
		}
		w.mu.Unlock()
	}
	ns := opts.Namespace
	if ns == "" {
		ns = w.cfg.Namespace
	}
	if opts.EnvVars == nil {
		opts.EnvVars = w.envVars
	}
	spec := &rpcpb.ActorSpec{JobId: w.jobID, ClassName: class, Args: pargs, Resources: opts.Resources,
		Name: opts.Name, Namespace: ns, Detached: opts.Detached, GetIfExists: opts.GetIfExists,
		MaxRestarts: int32(opts.MaxRestarts), MaxConcurrency: int32(opts.MaxConcurrency), OwnerAddress: w.addr, Strategy: opts.Strategy,
		EnvVars: opts.EnvVars, ConcurrencyGroups: opts.ConcurrencyGroups, Lightweight: opts.Lightweight}
	if w.isWork {
		// A worker owner: the actor dies with this process (or its node)
		// unless detached. A driver's actors end with its job.
		spec.OwnerWorkerId, spec.OwnerNodeId = w.cfg.WorkerID, w.cfg.NodeID
	}
	info, err := w.gcs.CreateActor(ctx, spec)
	if err != nil {
		if status.Code(err) == codes.AlreadyExists {
			return nil, fmt.Errorf("create actor %s: %s", class, status.Convert(err).Message())
		}
		return nil, fmt.Errorf("create actor %s: %w", class, err)
	}
	if len(holds) > 0 {
		go w.holdUntilConstructed(info.ActorId, holds)
	}
	return info, nil
}

// OwnActor returns a handle to an actor this process created (its owner):
// the table counts it with the actor's other handles here, the values and
// calls that carry one and the processes that borrow one; when none is left
// the GCS is told, and a non-detached actor ends (reportOutOfScope). It is
// released when Release is called or the garbage collector finds it
// unreachable, like an object's handle.
func (w *Worker) OwnActor(id string) *Handle {
	w.mu.Lock()
	w.table.AddActor(id)
	w.mu.Unlock()
	return w.newHandle(id)
}

// outOfScopeTries bounds the owner's report that an actor's handles are
// gone (the GCS may be restarting); a report that never arrives leaves the
// actor until its job ends, as before handles were counted.
const outOfScopeTries = 5

// reportOutOfScope tells the GCS that no handle to the actor id is left
// (ownership.ActorOutOfScope): every call made through one has finished.
func (w *Worker) reportOutOfScope(id string) {
	for try := 0; try < outOfScopeTries && w.baseCtx.Err() == nil; try++ {
		ctx, cancel := context.WithTimeout(w.baseCtx, 10*time.Second)
		_, err := w.gcs.KillActor(ctx, &rpcpb.KillActorRequest{ActorId: id, OutOfScope: true, OwnerAddress: w.addr})
		cancel()
		if err == nil || status.Code(err) == codes.NotFound || status.Code(err) == codes.InvalidArgument {
			break
		}
		time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
	}
}

// LookupActor finds a named actor.
func (w *Worker) LookupActor(ctx context.Context, name, namespace string) (*rpcpb.ActorInfo, error) {
	if namespace == "" {
		namespace = w.cfg.Namespace
	}
	info, err := w.gcs.GetActor(ctx, &rpcpb.GetActorRequest{Name: name, Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("get actor %q: %s", name, status.Convert(err).Message())
	}
	if info.State == rpcpb.ActorState_DEAD {
		return nil, &ActorDiedError{ActorID: info.ActorId, Cause: info.DeathCause}
	}
	return info, nil
}

// KillActor kills an actor; with noRestart it will not be restarted.
func (w *Worker) KillActor(ctx context.Context, id string, noRestart bool) error {
	_, err := w.gcs.KillActor(ctx, &rpcpb.KillActorRequest{ActorId: id, NoRestart: noRestart})
	if err != nil {
		return err
	}
	// Calls after Kill must not reach the killed incarnation: drop the stream
	// and look the actor up again (DEAD, or a restarted incarnation).
	w.mu.Lock()
	s, ok := w.actorsC[id]
	gen := 0
	if ok {
		gen = s.gen
	}
	w.mu.Unlock()
	if ok {
		w.actorStreamBroken(s, gen, status.Error(codes.Aborted, "killed by ray.Kill"))
	}
	return nil
}

type actorState int

const (
	disconnected actorState = iota
	connecting
	connected
	actorDead
)

// actorSubmitter sends one caller's calls to an actor, in submission order.
type actorSubmitter struct {
	id       string
	addr     string
	restarts int32
	state    actorState
	deathErr error
	queue    []*pendingTask
	inflight map[string]*pendingTask
	out      *outbox
	seq      uint64
	gen      int
	// where the actor runs (task events).
	where *rpcpb.TaskWhere
}

// CallOptions are an actor call's options besides its retries.
type CallOptions struct {
	// Parent is the task the call is made from (ParentTask; "" from a
	// driver): cancelling it recursively cancels the call.
	Parent string
	// Group is the actor concurrency group the call runs in ("": the
	// default group).
	Group string
	// Actor is the handle the call is made through, held by the call until
	// it finished (an actor ends only after the calls made through its
	// counted handles); nil for an uncounted one.
	Actor *Handle
}

// SubmitActorTask calls a registered method on an actor. rebuilds is how often a
// result lost with its node may be made again by calling the method again
// (0: never; -1: always), for calls whose result depends only on their
// arguments and the actor's constructed state.
func (w *Worker) SubmitActorTask(actorID, method string, args []Arg, maxTaskRetries, rebuilds int, call CallOptions) *Handle {
	pt := w.addActorTask(actorID, method, args, maxTaskRetries, rebuilds, nil, 0, call)
	h := w.newHandle(pt.spec.TaskId)
	w.enqueue(pt)
	return h
}

// SubmitActorTaskN calls a registered method with n returns (Ray's
// num_returns): it returns a slice of n values, each its own object.
func (w *Worker) SubmitActorTaskN(actorID, method string, args []Arg, maxTaskRetries, rebuilds, n int, call CallOptions) ([]*Handle, error) {
	if n < 1 || n > maxNumReturns {
		w.ReleaseArgs(args)
		return nil, fmt.Errorf("num_returns %d: want 1 to %d", n, maxNumReturns)
	}
	pt := w.addActorTask(actorID, method, args, maxTaskRetries, rebuilds, nil, n, call)
	rets := returnIDs(pt.spec.TaskId, n)
	hs := make([]*Handle, n)
	for i, r := range rets {
		hs[i] = w.newHandle(r)
	}
	w.enqueue(pt)
	return hs, nil
}

// SubmitActorGenerator calls a registered generator method on an actor:
// its items reach the returned Generator as the method yields them.
// backpressure > 0 pauses the method while that many are not consumed.
func (w *Worker) SubmitActorGenerator(actorID, method string, args []Arg, maxTaskRetries, rebuilds int, backpressure int64, call CallOptions) *Generator {
	pt := w.addActorTask(actorID, method, args, maxTaskRetries, rebuilds, newGenState(backpressure), 0, call)
	g := w.newGenerator(pt.spec.TaskId)
	w.enqueue(pt)
	return g
}

// holdUntilConstructed keeps the references inside an actor's constructor
// arguments until its constructor ran (the actor is alive, or dead): the
// constructor's reply waited for the registrations of what it kept. (A
// restart runs the constructor again with the same arguments; the objects
// of references nobody else holds are gone by then, as for a task run again
// from lineage.)
func (w *Worker) holdUntilConstructed(actorID string, holds []*Holds) {
	defer func() {
		for _, h := range holds {
			w.ReleaseHolds(h)
		}
	}()
	for w.baseCtx.Err() == nil {
		ctx, cancel := context.WithTimeout(w.baseCtx, 60*time.Second)
		info, err := w.gcs.GetActor(ctx, &rpcpb.GetActorRequest{ActorId: actorID, Wait: true})
		cancel()
		switch {
		case status.Code(err) == codes.NotFound:
			return
		case err != nil:
			time.Sleep(200 * time.Millisecond)
		case info.State == rpcpb.ActorState_ALIVE, info.State == rpcpb.ActorState_DEAD:
			return
		}
	}
}

// addActorTask records an actor call in the table and its caller's queue;
// n >= 1 is num_returns (the method returns a slice of n), 0 one result;
// rebuilds is how often its lost results may be rebuilt by calling again.
func (w *Worker) addActorTask(actorID, method string, args []Arg, maxTaskRetries, rebuilds int, gen *genState, n int, call CallOptions) *pendingTask {
	c := &actorCall{}
	id := ids.Seq()
	pargs, owned := w.buildArgsInto(args, c.argp[:0], c.arg[:])
	w.mu.Lock()
	sub, ok := w.actorsC[actorID]
	if !ok {
		sub = &actorSubmitter{id: actorID, inflight: map[string]*pendingTask{}}
		w.actorsC[actorID] = sub
	}
	sub.seq++
	spec := &c.spec
	// (caller_id stays empty: no executor reads it, and the owner's address
	// names the caller already.)
	spec.TaskId, spec.JobId, spec.Name, spec.OwnerAddress, spec.ActorId, spec.Seq = id, w.jobID, method, w.addr, actorID, sub.seq
	spec.ConcurrencyGroup = call.Group
	c.ret[0] = id
	rets := c.ret[:]
	if n >= 1 { // num_returns: the method returns a slice of n
		spec.NumReturns = int32(n)
		rets = returnIDs(id, n)
	}
	if gen != nil {
		spec.Streaming, spec.GeneratorBackpressure = true, gen.s.Threshold()
	}
	if rebuilds != 0 {
		if e, ok := w.table.Get(actorID); ok && e.Actor {
			// A call whose lost result may be made again by calling the
			// actor again keeps the actor of this process while it is kept.
			owned = append(owned, actorID)
		}
	}
	pt := &c.pt
	pt.spec, pt.args, pt.actor, pt.retries, pt.gen, pt.opts.Parent, pt.holds = spec, pargs, sub, maxTaskRetries, gen, call.Parent, takeHolds(args)
	if call.Actor != nil {
		// Under the lock already taken: no Holds of its own (an allocation
		// and a lock per call). A handle released meanwhile holds nothing:
		// the SDK refused calls through released handles before this.
		if r, err := w.holdLocked(call.Actor); err == nil {
			pt.actorHold, pt.holdsActor = r, true
		}
	}
	c.task = ownership.Task{ID: id, Spec: pt, Args: owned, Returns: rets, RetriesLeft: rebuilds}
	w.table.AddTask(&c.task)
	w.pending[id] = pt
	w.newStreamLocked(pt)
	sub.queue = append(sub.queue, pt)
	w.mu.Unlock()
	return pt
}

// actorCall is what an actor call's submission allocates, in one piece: its
// pending task, its spec, its return's id, its record in the ownership
// table and (a value) its argument. They live as long as one
// another: the record keeps the pending task, which keeps the rest.
type actorCall struct {
	pt   pendingTask
	spec rpcpb.TaskSpec
	task ownership.Task
	ret  [1]string
	argp [1]*rpcpb.Arg
	arg  [1]rpcpb.Arg
}

// readyLocked sends the leading resolved calls, connecting first if needed.
func (s *actorSubmitter) readyLocked(w *Worker) {
	switch s.state {
	case actorDead:
		var acts []ownership.Action
		for _, pt := range s.queue {
			delete(w.pending, pt.spec.TaskId)
			w.outcomeEvent(pt, s.deathErr)
			acts = append(acts, w.failTaskLocked(pt, s.deathErr)...)
		}
		s.queue = nil
		go w.do(acts)
		return
	case disconnected:
		s.state = connecting
		go w.connectActor(s)
		return
	case connecting:
		return
	}
	n := 0
	for n < len(s.queue) && s.queue[n].resolved {
		n++
	}
	if n == 0 {
		return
	}
	batch := make([]*rpcpb.TaskSpec, n)
	for i, pt := range s.queue[:n] {
		batch[i] = pt.spec
		s.inflight[pt.spec.TaskId] = pt
	}
	w.submittedEvents(s.queue[:n])
	if n == len(s.queue) {
		// All sent: the queue keeps its array for the next calls (a
		// caller that waits for each call would grow a new one each time).
		clear(s.queue)
		s.queue = s.queue[:0]
	} else {
		s.queue = s.queue[n:]
	}
	s.out.put(batch)
}

func (w *Worker) connectActor(s *actorSubmitter) {
	for {
		ctx, cancel := context.WithTimeout(w.baseCtx, 60*time.Second)
		info, err := w.gcs.GetActor(ctx, &rpcpb.GetActorRequest{ActorId: s.id, Wait: true, MinRestarts: s.restarts})
		cancel()
		if w.baseCtx.Err() != nil {
			return
		}
		if err != nil {
			if status.Code(err) == codes.NotFound {
				w.mu.Lock()
				s.state, s.deathErr = actorDead, &ActorDiedError{ActorID: s.id, Cause: "no such actor"}
				s.readyLocked(w)
				w.mu.Unlock()
				return
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if info.State == rpcpb.ActorState_DEAD {
			w.mu.Lock()
			s.state, s.deathErr = actorDead, &ActorDiedError{ActorID: s.id, Cause: info.DeathCause}
			s.readyLocked(w)
			w.mu.Unlock()
			return
		}
		if info.State != rpcpb.ActorState_ALIVE {
			continue
		}
		conn, err := w.pool.Get(info.Address)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		sctx, scancel := context.WithCancel(w.baseCtx)
		stream, err := rpcpb.NewCoreWorkerClient(conn).PushTasks(sctx)
		if err != nil {
			scancel()
			s.restarts = info.NumRestarts + 1
			continue
		}
		w.mu.Lock()
		s.state, s.addr, s.restarts = connected, info.Address, info.NumRestarts
		s.where = &rpcpb.TaskWhere{NodeId: info.NodeId, WorkerId: info.WorkerId, WorkerPid: info.Pid}
		s.out = newOutbox()
		s.gen++
		lw := &leasedWorker{stream: stream}
		go w.actorSender(lw, s.out)
		go w.actorReceiver(s, stream, s.gen, scancel)
		s.readyLocked(w)
		w.mu.Unlock()
		return
	}
}

func (w *Worker) actorReceiver(s *actorSubmitter, stream rpcpb.CoreWorker_PushTasksClient, gen int, cancel context.CancelFunc) {
	defer cancel()
	for {
		rb, err := stream.Recv()
		if err != nil {
			w.actorStreamBroken(s, gen, err)
			return
		}
		w.actorResults(s, rb)
	}
}

// actorResults finishes the calls whose results came back.
func (w *Worker) actorResults(s *actorSubmitter, rb *rpcpb.ResultBatch) {
	var acts []ownership.Action
	w.mu.Lock()
	for _, r := range rb.Results {
		pt, ok := s.inflight[r.TaskId]
		if !ok {
			acts = append(acts, w.dropResultLocked(r)...)
			continue
		}
		delete(s.inflight, r.TaskId)
		delete(w.pending, r.TaskId)
		w.resultEvent(pt, r, s.where)
		acts = append(acts, w.finishLocked(pt, r)...)
	}
	w.mu.Unlock()
	w.do(acts)
}

func (w *Worker) actorStreamBroken(s *actorSubmitter, gen int, cause error) {
	w.mu.Lock()
	if s.gen != gen || s.state != connected {
		w.mu.Unlock()
		return
	}
	s.out.close()
	s.state = disconnected
	s.restarts++
	msg := "the actor died while running this call"
	if !errors.Is(cause, io.EOF) {
		msg += ": " + status.Convert(cause).Message()
	}
	var retry []*pendingTask
	var acts []ownership.Action
	for _, pt := range s.inflight {
		if pt.retries != 0 && !pt.cancelled {
			if pt.retries > 0 {
				pt.retries--
			}
			pt.spec.Attempt++
			w.beforeAttemptLocked(pt)
			w.startRecoveryLocked(pt.spec.TaskId)
			retry = append(retry, pt)
			continue
		}
		delete(w.pending, pt.spec.TaskId)
		err := &ActorDiedError{ActorID: s.id, Cause: msg}
		w.outcomeEvent(pt, err)
		acts = append(acts, w.failTaskLocked(pt, err)...)
	}
	s.inflight = map[string]*pendingTask{}
	sort.Slice(retry, func(i, j int) bool { return retry[i].spec.Seq < retry[j].spec.Seq })
	s.queue = append(retry, s.queue...)
	if len(s.queue) > 0 {
		s.readyLocked(w)
	}
	w.mu.Unlock()
	w.do(acts)
}

// outbox is an actor stream's queue of call batches to send: unbounded, so
// that queueing under w.mu never blocks, and empty while idle — a channel
// sized for a burst of calls would cost each of thousands of actor handles
// its whole buffer (1.5 MB at 65,536 batches) whether it is used or not.
type outbox struct {
	mu     sync.Mutex
	q      [][]*rpcpb.TaskSpec
	closed bool
	wake   chan struct{}
}

func newOutbox() *outbox { return &outbox{wake: make(chan struct{}, 1)} }

func (o *outbox) put(b []*rpcpb.TaskSpec) {
	o.mu.Lock()
	o.q = append(o.q, b)
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// close ends the stream's sending: what is queued is not sent (its calls
// were taken back as in flight when the stream broke).
func (o *outbox) close() {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// take waits for queued batches, joined into messages of up to 4096 calls;
// false once the outbox is closed.
func (o *outbox) take(buf [][]*rpcpb.TaskSpec) ([][]*rpcpb.TaskSpec, bool) {
	for {
		o.mu.Lock()
		if o.closed {
			o.mu.Unlock()
			return nil, false
		}
		if len(o.q) > 0 {
			var cur []*rpcpb.TaskSpec
			for _, b := range o.q {
				if len(cur) > 0 && len(cur)+len(b) > 4096 {
					buf = append(buf, cur)
					cur = nil
				}
				if cur == nil {
					cur = b
				} else {
					cur = append(cur, b...)
				}
			}
			buf = append(buf, cur)
			clear(o.q)
			o.q = o.q[:0]
			o.mu.Unlock()
			return buf, true
		}
		o.mu.Unlock()
		<-o.wake
	}
}

// actorSender sends an actor stream's queued calls, what queued meanwhile
// in one message.
func (w *Worker) actorSender(lw *leasedWorker, o *outbox) {
	var buf [][]*rpcpb.TaskSpec
	for {
		msgs, ok := o.take(buf[:0])
		if !ok {
			return
		}
		for i, m := range msgs {
			if lw.stream.Send(lw.batch(m)) != nil {
				return // the receiver sees the failure
			}
			msgs[i] = nil
		}
		buf = msgs
	}
}
