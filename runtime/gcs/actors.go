package gcs

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/internal/workerenv"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

// CreateActor registers an actor and schedules its constructor.
func (s *Server) CreateActor(ctx context.Context, in *rpcpb.ActorSpec) (*rpcpb.ActorInfo, error) {
	if in.ClassName == "" {
		return nil, status.Error(codes.InvalidArgument, "actor class name is required")
	}
	if in.Namespace == "" {
		in.Namespace = "default"
	}
	if n := proto.Size(in); n > maxSpecRecord {
		return nil, status.Errorf(codes.InvalidArgument, "actor spec of %d bytes; at most %d (pass large arguments as object refs)", n, maxSpecRecord)
	}
	if err := workerenv.ValidateTaskEnvVars(in.EnvVars); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := actors.ValidateConcurrencyGroups(in.ConcurrencyGroups); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := checkLightweight(in); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	a := &actors.Actor{ID: ids.New(), Class: in.ClassName, Name: in.Name, Namespace: in.Namespace, JobID: in.JobId,
		Detached: in.Detached, Owner: in.OwnerAddress, OwnerWorker: in.OwnerWorkerId, OwnerNode: in.OwnerNodeId,
		MaxRestarts: int(in.MaxRestarts), Spec: in, Lightweight: in.Lightweight}
	s.mu.Lock()
	got, effs, err := s.dir.Register(a, in.GetIfExists)
	if err != nil {
		s.mu.Unlock()
		return nil, status.Error(codes.AlreadyExists, err.Error())
	}
	info := actorInfo(got)
	s.saveActorsLocked(effs)
	s.notifyLocked()
	s.mu.Unlock()
	s.apply(effs)
	// settle, not just seq: an existing actor (get-if-exists) must be durable too.
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	return info, nil
}

func actorInfo(a *actors.Actor) *rpcpb.ActorInfo {
	info := &rpcpb.ActorInfo{ActorId: a.ID, State: rpcpb.ActorState(a.State), Address: a.Address, WorkerId: a.WorkerID,
		NodeId: a.NodeID, NumRestarts: int32(a.NumRestarts), DeathCause: a.DeathCause, Name: a.Name, Namespace: a.Namespace,
		ClassName: a.Class, JobId: a.JobID}
	if spec, ok := a.Spec.(*rpcpb.ActorSpec); ok {
		info.MaxConcurrency, info.Lightweight = spec.MaxConcurrency, spec.Lightweight
		info.IsDetached, info.RequiredResources, info.MaxRestarts = spec.Detached, spec.Resources, spec.MaxRestarts
		info.OwnerAddress = spec.OwnerAddress
		if st := spec.Strategy; st != nil && st.Kind == rpcpb.SchedulingStrategy_PLACEMENT_GROUP {
			info.PlacementGroupId = st.PlacementGroupId
		}
	}
	info.Pid = int32(a.PID)
	return info
}

// GetActor looks an actor up by id or by name, optionally waiting until it is
// ALIVE (with at least min_restarts restarts) or DEAD.
func (s *Server) GetActor(ctx context.Context, in *rpcpb.GetActorRequest) (*rpcpb.ActorInfo, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var a *actors.Actor
		var ok bool
		if in.ActorId != "" {
			a, ok = s.dir.Get(in.ActorId)
		} else {
			ns := in.Namespace
			if ns == "" {
				ns = "default"
			}
			a, ok = s.dir.Lookup(ns, in.Name)
		}
		if !ok {
			if in.ActorId != "" {
				return nil, status.Errorf(codes.NotFound, "actor %s does not exist", in.ActorId)
			}
			return nil, status.Errorf(codes.NotFound, "no actor named %q in namespace %q", in.Name, in.Namespace)
		}
		if !in.Wait || a.State == actors.Dead || (a.State == actors.Alive && a.NumRestarts >= int(in.MinRestarts)) {
			return actorInfo(a), nil
		}
		wait := s.waitLocked
		if in.ActorId != "" {
			// Its own changes only: thousands of callers waiting for
			// thousands of actors must not all wake at every change.
			wait = func(ctx context.Context) error { return s.waitActorLocked(ctx, in.ActorId) }
		}
		if err := wait(ctx); err != nil {
			return actorInfo(a), nil
		}
	}
}

// KillActor stops an actor (restarting it unless no_restart), or, with
// out_of_scope, ends a non-detached actor whose owner holds no handle to it
// any more (actors.Directory.OutOfScope).
func (s *Server) KillActor(ctx context.Context, in *rpcpb.KillActorRequest) (*rpcpb.Empty, error) {
	s.mu.Lock()
	var effs []actors.Effect
	var err error
	if in.OutOfScope {
		effs = s.dir.OutOfScope(in.ActorId, in.OwnerAddress)
	} else {
		effs, err = s.dir.Kill(in.ActorId, in.NoRestart)
	}
	seq := s.saveActorsLocked(effs, in.ActorId)
	s.notifyLocked()
	s.mu.Unlock()
	if err != nil {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	s.apply(effs)
	if err := s.durable(ctx, seq); err != nil {
		return nil, err
	}
	return &rpcpb.Empty{}, nil
}

// ListActors lists every actor.
func (s *Server) ListActors(ctx context.Context, _ *rpcpb.Empty) (*rpcpb.ActorList, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &rpcpb.ActorList{}
	for _, a := range s.dir.All() {
		out.Actors = append(out.Actors, actorInfo(a))
	}
	return out, nil
}

func (s *Server) apply(effs []actors.Effect) {
	for i, e := range effs {
		switch e.Kind {
		case actors.Schedule:
			go s.scheduleActor(e.ActorID)
		case actors.KillWorker:
			go s.killWorker(e.NodeID, e.WorkerID)
		case actors.KillInstance:
			if rescheduled(effs[i+1:], e.ActorID) {
				// The old instance must be gone before its restart can
				// land in the same host.
				s.killInstance(e.WorkerID, e.ActorID)
			} else {
				go s.killInstance(e.WorkerID, e.ActorID)
			}
		}
	}
}

// waitActorLocked releases the lock until actor id changes (any change
// of the directory's record passes saveActorsLocked) or ctx ends.
func (s *Server) waitActorLocked(ctx context.Context, id string) error {
	if s.actorWaits == nil {
		s.actorWaits = map[string]chan struct{}{}
	}
	ch, ok := s.actorWaits[id]
	if !ok {
		ch = make(chan struct{})
		s.actorWaits[id] = ch
	}
	return s.waitOnLocked(ctx, ch)
}

// wakeActorLocked wakes the waiters of actor id.
func (s *Server) wakeActorLocked(id string) {
	if ch, ok := s.actorWaits[id]; ok {
		close(ch)
		delete(s.actorWaits, id)
	}
}

// rescheduled says whether effs schedule actor id.
func rescheduled(effs []actors.Effect, id string) bool {
	for _, e := range effs {
		if e.Kind == actors.Schedule && e.ActorID == id {
			return true
		}
	}
	return false
}

func (s *Server) nodeClient(nodeID string) (rpcpb.NodeManagerClient, string, bool) {
	s.mu.Lock()
	n, ok := s.nodes[nodeID]
	alive := ok && n.alive
	s.mu.Unlock()
	if !alive {
		// A dead node answers nothing; a call would wait for its timeout
		// and put the node's connection back in the pool for good.
		return nil, "", false
	}
	c, err := s.pool.Get(n.info.Address)
	if err != nil {
		return nil, "", false
	}
	return rpcpb.NewNodeManagerClient(c), n.info.Address, true
}

func (s *Server) killWorker(nodeID, workerID string) {
	c, _, ok := s.nodeClient(nodeID)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.KillWorker(ctx, &rpcpb.KillWorkerRequest{WorkerId: workerID})
}

func (s *Server) actorStrategy(spec *rpcpb.ActorSpec) (scheduler.Strategy, string, int32) {
	st := spec.GetStrategy()
	if st.GetKind() == rpcpb.SchedulingStrategy_PLACEMENT_GROUP {
		return scheduler.Strategy{}, st.PlacementGroupId, st.BundleIndex
	}
	return scheduler.FromProto(st), "", -1
}

// scheduleActor places an actor on a node, leases a dedicated worker and runs
// its constructor, retrying until it succeeds or the actor is dead.
func (s *Server) scheduleActor(id string) {
	for backoff := 50 * time.Millisecond; ; backoff = min(backoff*2, time.Second) {
		select {
		case <-s.stop:
			return
		default:
		}
		s.mu.Lock()
		a, ok := s.dir.Get(id)
		if !ok || a.State == actors.Dead || a.State == actors.Alive {
			s.mu.Unlock()
			return
		}
		spec := a.Spec.(*rpcpb.ActorSpec)
		strategy, pgID, bundle := s.actorStrategy(spec)
		var nodeID string
		if pgID != "" {
			nodeID = s.pgNodeLocked(pgID, bundle)
		} else {
			dec := s.sched.Pick(s.snapshotLocked(), "", spec.Resources, strategy)
			if dec.Status == scheduler.Infeasible && strategy.Kind == scheduler.NodeAffinity && !strategy.Soft {
				effs := s.dir.CreationFailed(id, "node affinity names node "+strategy.NodeID+" which is dead or cannot fit the actor")
				s.saveActorsLocked(effs, id)
				s.notifyLocked()
				s.mu.Unlock()
				s.apply(effs)
				return
			}
			nodeID = dec.NodeID
		}
		s.mu.Unlock()
		if nodeID == "" {
			time.Sleep(backoff)
			continue
		}
		if spec.Lightweight {
			if s.tryCreateLite(id, nodeID, spec) {
				return
			}
		} else if s.tryCreateActor(id, nodeID, spec) {
			return
		}
		time.Sleep(backoff)
	}
}

func (s *Server) tryCreateActor(id, nodeID string, spec *rpcpb.ActorSpec) bool {
	c, _, ok := s.nodeClient(nodeID)
	if !ok {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The job's executable hash: the node starts the actor's worker from
	// exactly that program, whatever it cached under the job id.
	s.mu.Lock()
	hash := ""
	if j, ok := s.jobs[spec.JobId]; ok {
		hash = j.BinaryHash
	}
	s.mu.Unlock()
	req := &rpcpb.LeaseRequest{JobId: spec.JobId, BinaryHash: hash, Resources: spec.Resources, GrantOrReject: true, ForActor: true, ActorId: id,
		Strategy: spec.Strategy, EnvVars: spec.EnvVars, NotRetriable: spec.MaxRestarts == 0}
	lease, err := c.RequestWorkerLease(ctx, req)
	if err != nil || !lease.Granted {
		return false
	}
	s.mu.Lock()
	s.dir.Placed(id, nodeID, lease.WorkerId)
	if a, ok := s.dir.Get(id); ok {
		a.PID = int(lease.WorkerPid)
	}
	s.saveActorsLocked(nil, id)
	s.mu.Unlock()
	// The GCS calls an actor's worker once, for its constructor: a pooled
	// connection would outlive the worker (replicas and actors come and go
	// for the cluster's whole life).
	conn, err := rpcutil.Dial(lease.WorkerAddress, s.cfg.Security)
	if err != nil {
		return false
	}
	defer conn.Close()
	task := &rpcpb.TaskSpec{TaskId: ids.New(), JobId: spec.JobId, Name: spec.ClassName, Args: spec.Args,
		OwnerAddress: spec.OwnerAddress, ActorId: id, ActorCreation: true, MaxConcurrency: spec.MaxConcurrency,
		ConcurrencyGroups: spec.ConcurrencyGroups, GpuIds: lease.GpuIds, SetGpus: lease.NodeHasGpus}
	res, err := rpcpb.NewCoreWorkerClient(conn).CreateActor(ctx, task)
	if err != nil {
		s.log.Printf("actor %s: constructor call on worker %s failed: %v", id, lease.WorkerId, err)
		_, _ = c.ReturnWorker(ctx, &rpcpb.ReturnWorkerRequest{LeaseId: lease.LeaseId, WorkerBroken: true})
		s.unplaced(id, lease.WorkerId)
		return false
	}
	// A failed constructor's worker is the actor's own: it goes too.
	s.constructed(id, nodeID, lease.WorkerId, lease.WorkerAddress, res, true)
	return true
}

// unplaced forgets where an actor was being constructed (the call to its
// worker failed; the next try places it again), unless it died meanwhile
// or is being constructed elsewhere already.
func (s *Server) unplaced(id, workerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.dir.Get(id); ok && a.State != actors.Dead && a.WorkerID == workerID {
		a.WorkerID, a.NodeID = "", ""
		s.saveActorsLocked(nil, id)
	}
}

// constructed records a constructor's answer: the actor ALIVE on its
// worker, or its creation failed (with killWorker, the worker killed).
func (s *Server) constructed(id, nodeID, workerID, addr string, res *rpcpb.TaskResult, killWorker bool) {
	s.mu.Lock()
	var effs []actors.Effect
	if e := res.GetResult().GetError(); e != nil {
		effs = s.dir.CreationFailed(id, e.Message)
		if killWorker {
			effs = append(effs, actors.Effect{Kind: actors.KillWorker, ActorID: id, NodeID: nodeID, WorkerID: workerID})
		}
	} else {
		effs = s.dir.Created(id, nodeID, workerID, addr)
	}
	s.saveActorsLocked(effs, id)
	s.notifyLocked()
	s.mu.Unlock()
	s.apply(effs)
}
