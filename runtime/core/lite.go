package core

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Lightweight actors.
//
// A process actor owns its worker process: one process per actor. A
// lightweight actor (ActorOptions.Lightweight, ray.Lightweight) is instead
// an instance — its state and its own mailbox — inside a host worker that
// the GCS leases once per node, job and runtime_env and shares between all
// the job's lightweight actors on that node. Creating one is a constructor
// call on the host, not a process start; calls reach the instance by actor
// id over their own PushTasks stream, each instance keeping its calls in
// order (or up to its max_concurrency and concurrency groups) as a process
// actor does.
//
// What an instance shares with the others on its host is the isolation
// trade-off: one address space (a goroutine it leaks or memory it holds is
// every instance's), one crash fate (anything that kills the process —
// an unrecovered panic in a goroutine the actor started, os.Exit, the
// memory monitor, a node kill — kills every instance on it, each then
// restarting per its max_restarts), and one environment (the job's
// runtime_env variables; no per-actor EnvVars, resources or GPUs). A
// panic inside a method is recovered, as for any actor: that call fails
// and the instance and its neighbours go on. ray.Kill ends only the
// instance: its streams close, its context is cancelled, the host and the
// other instances keep running.

// liteInstance is one lightweight actor hosted by this worker.
type liteInstance struct {
	id     string
	obj    any
	groups *actorGroups
	// ctx is the instance's life: cancelled when it is killed (the
	// constructor's and every call's context derive from it).
	ctx    context.Context
	cancel context.CancelFunc
}

// createInstance runs a lightweight actor's constructor and adds the
// instance to this host worker.
func (w *Worker) createInstance(ctx context.Context, spec *rpcpb.TaskSpec, ctor Ctor) (*rpcpb.TaskResult, error) {
	w.execMu.Lock()
	if w.actorID != "" {
		w.execMu.Unlock()
		return nil, status.Errorf(codes.FailedPrecondition, "worker hosts process actor %s, not lightweight actors", w.actorID)
	}
	first := !w.liteHost.Load()
	if w.lite == nil {
		w.lite = map[string]*liteInstance{}
	}
	w.liteHost.Store(true)
	w.hostsActor.Store(true)
	w.execMu.Unlock()
	if first {
		w.defaultScheduler()
	}
	w.runningEvent(spec, w.creationInfo(spec), time.Now())
	defer w.flushBorrows()
	args, argsDone, err := w.resolveArgs(ctx, spec.Args, spec.OwnerAddress)
	if err != nil {
		return &rpcpb.TaskResult{TaskId: spec.TaskId, Result: &rpcpb.Object{Error: infoFromError(err)}}, nil
	}
	defer argsDone.run()
	ictx, cancel := context.WithCancel(w.baseCtx)
	var obj any
	err = protect(spec.Name, func() error {
		var e error
		obj, e = ctor(ictx, args)
		return e
	})
	if err != nil {
		cancel()
		return &rpcpb.TaskResult{TaskId: spec.TaskId, Result: &rpcpb.Object{Error: taskErrInfo(spec.Name, err)}}, nil
	}
	li := &liteInstance{id: spec.ActorId, obj: obj, groups: newActorGroups(int(spec.MaxConcurrency), spec.ConcurrencyGroups),
		ctx: ictx, cancel: cancel}
	w.execMu.Lock()
	old := w.lite[spec.ActorId]
	w.lite[spec.ActorId] = li
	w.execMu.Unlock()
	if old != nil {
		old.cancel() // a constructor call made again: the newer instance wins
	}
	return &rpcpb.TaskResult{TaskId: spec.TaskId, Result: &rpcpb.Object{}}, nil
}

// dropInstance ends a lightweight actor's instance (ray.Kill): its
// streams close and its calls' contexts are cancelled.
func (w *Worker) dropInstance(id string) bool {
	w.execMu.Lock()
	li := w.lite[id]
	delete(w.lite, id)
	w.execMu.Unlock()
	if li == nil {
		return false
	}
	li.cancel()
	return true
}

// actorInstanceLocked (under w.execMu) is the actor object a call runs on
// and the context its run derives from; gone reports a lightweight actor no
// longer hosted here.
func (w *Worker) actorInstanceLocked(spec *rpcpb.TaskSpec) (inst any, base context.Context, gone bool) {
	if spec.ActorId == "" || !w.liteHost.Load() {
		return w.actor, w.baseCtx, false
	}
	li := w.lite[spec.ActorId]
	if li == nil {
		return nil, w.baseCtx, true
	}
	return li.obj, li.ctx, false
}

// pushInstance serves one caller's stream of calls to a lightweight actor
// on this host: the first batch names the actor; the stream ends with
// Aborted when the instance is killed, which its caller sees as the
// actor's death (it then looks the actor up again).
func (w *Worker) pushInstance(stream rpcpb.CoreWorker_PushTasksServer) error {
	var first *rpcpb.TaskBatch
	id := ""
	for id == "" {
		b, err := stream.Recv()
		if err != nil {
			return nil //nolint:nilerr // the caller closed the stream or went away
		}
		for _, t := range b.Tasks {
			if t.ActorId != "" {
				id = t.ActorId
				break
			}
		}
		first = b
	}
	w.execMu.Lock()
	li := w.lite[id]
	w.execMu.Unlock()
	if li == nil {
		return status.Errorf(codes.Aborted, "actor %s has no instance on this host (killed)", id)
	}
	ls := &liteStream{CoreWorker_PushTasksServer: stream, first: first}
	done := make(chan error, 1)
	go func() { done <- w.pushTo(ls, li.groups) }()
	select {
	case err := <-done:
		return err
	case <-li.ctx.Done():
		ls.close()
		return status.Errorf(codes.Aborted, "actor %s was killed", id)
	}
}

// liteStream is a PushTasks stream handed to the executor after its first
// batch was read; once the handler returned (the instance was killed) it
// sends nothing more.
type liteStream struct {
	rpcpb.CoreWorker_PushTasksServer
	first  *rpcpb.TaskBatch
	mu     sync.Mutex
	closed bool
}

func (s *liteStream) Recv() (*rpcpb.TaskBatch, error) {
	if b := s.first; b != nil {
		s.first = nil
		return b, nil
	}
	return s.CoreWorker_PushTasksServer.Recv()
}

func (s *liteStream) Send(rb *rpcpb.ResultBatch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("actor instance killed")
	}
	return s.CoreWorker_PushTasksServer.Send(rb)
}

func (s *liteStream) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}
