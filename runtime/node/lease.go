package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/internal/workerenv"
	"github.com/goray-dev/goray/runtime/objectstore"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

// RequestWorkerLease grants a worker on this node, tells the caller to go to
// another node (spillback), or waits until resources free up.
func (n *Node) RequestWorkerLease(ctx context.Context, in *rpcpb.LeaseRequest) (*rpcpb.LeaseReply, error) {
	if in.JobId == "" {
		return nil, status.Error(codes.InvalidArgument, "lease request without a job id")
	}
	req := scheduler.Resources(in.Resources)
	for k, v := range req {
		if v < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "negative resource %s=%g", k, v)
		}
	}
	isPG := in.Strategy.GetKind() == rpcpb.SchedulingStrategy_PLACEMENT_GROUP
	sel := scheduler.Selector(in.Strategy.GetLabelSelector())
	if err := sel.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := workerenv.ValidateTaskEnvVars(in.EnvVars); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	dkey := demandKey(req, sel)
	waiting, refreshed := false, false
	n.mu.Lock()
	epoch := n.epoch
	n.mu.Unlock()
	defer func() {
		if waiting {
			n.mu.Lock()
			// A dropped incarnation took its demand with it.
			if n.epoch == epoch {
				n.demand[dkey].Count--
			}
			n.mu.Unlock()
		}
	}()
	for {
		n.mu.Lock()
		if n.epoch != epoch {
			n.mu.Unlock()
			return nil, errOldIncarnation()
		}
		var l *rpcpb.LeaseReply
		var alloc *lease
		if isPG {
			alloc, l = n.tryBundleLocked(in, req)
		} else {
			alloc, l = n.tryLocalLocked(in, req)
		}
		if l != nil && l.Rejected && !refreshed && hardAffinityTo(in) != "" && !n.knowsNodeLocked(hardAffinityTo(in)) {
			// Pinned to a node this one has not heard of: it may have
			// joined since the last heartbeat's view. Ask the GCS once.
			n.mu.Unlock()
			refreshed = true
			n.refreshView(ctx)
			continue
		}
		if alloc != nil || l != nil {
			n.mu.Unlock()
			if l != nil {
				return l, nil
			}
			return n.grant(ctx, in, alloc)
		}
		if !waiting {
			waiting = true
			d, ok := n.demand[dkey]
			if !ok {
				d = &rpcpb.ResourceDemand{Shape: req.Clone(), LabelSelector: sel}
				n.demand[dkey] = d
			}
			d.Count++
			select {
			case n.kick <- struct{}{}:
			default:
			}
		}
		ch := n.changed
		n.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-n.stop:
			return nil, status.Error(codes.Unavailable, "node manager stopping")
		}
	}
}

// hardAffinityTo is the node a hard node affinity names ("" for others).
func hardAffinityTo(in *rpcpb.LeaseRequest) string {
	if s := in.Strategy; s.GetKind() == rpcpb.SchedulingStrategy_NODE_AFFINITY && !s.GetSoft() {
		return s.GetNodeId()
	}
	return ""
}

// knowsNodeLocked says whether id is this node or in its view (alive or dead).
func (n *Node) knowsNodeLocked(id string) bool {
	if id == n.id {
		return true
	}
	for _, v := range n.view {
		if v.NodeId == id {
			return true
		}
	}
	return false
}

// refreshView asks the GCS for the cluster view now instead of waiting for
// the next heartbeat's (bounded: a GCS that does not answer leaves it).
func (n *Node) refreshView(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := n.gcs.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return
	}
	n.mu.Lock()
	n.view = n.views.merge(v)
	n.notifyLocked()
	n.mu.Unlock()
}

// demandKey tells waiting requests apart for the autoscaler: by shape and
// label selector.
func demandKey(req scheduler.Resources, sel scheduler.Selector) string {
	if len(sel) == 0 {
		return req.Key()
	}
	return req.Key() + "|" + sel.String()
}

// tryLocalLocked decides a normal lease: allocate here, reply (spillback or
// rejection), or neither (wait).
func (n *Node) tryLocalLocked(in *rpcpb.LeaseRequest, req scheduler.Resources) (*lease, *rpcpb.LeaseReply) {
	if in.GrantOrReject {
		if n.draining {
			return nil, &rpcpb.LeaseReply{Rejected: true, Message: "node is draining"}
		}
		if req.Fits(n.available) && n.gpus.fits(req["GPU"]) {
			return n.allocLocked(req, "", -1), nil
		}
		return nil, &rpcpb.LeaseReply{Rejected: true, Message: "node has no room"}
	}
	dec := n.sched.Pick(n.snapshotLocked(), n.id, req, scheduler.FromProto(in.Strategy))
	switch dec.Status {
	case scheduler.Placed:
		if dec.NodeID == n.id {
			if !n.gpus.fits(req["GPU"]) {
				// The GPUs are there but in pieces (fractions held on
				// several devices): wait for a device to free up.
				return nil, nil
			}
			return n.allocLocked(req, "", -1), nil
		}
		return nil, &rpcpb.LeaseReply{SpillbackNodeId: dec.NodeID, SpillbackAddress: n.addressOfLocked(dec.NodeID)}
	case scheduler.Infeasible:
		if in.Strategy.GetKind() == rpcpb.SchedulingStrategy_NODE_AFFINITY && !in.Strategy.Soft {
			return nil, &rpcpb.LeaseReply{Rejected: true, Message: fmt.Sprintf("node affinity: node %s is dead, unknown or can never fit %v", in.Strategy.NodeId, req)}
		}
	}
	return nil, nil
}

func (n *Node) tryBundleLocked(in *rpcpb.LeaseRequest, req scheduler.Resources) (*lease, *rpcpb.LeaseReply) {
	pg := in.Strategy.PlacementGroupId
	m, ok := n.bundles[pg]
	if !ok {
		return nil, &rpcpb.LeaseReply{Rejected: true, Message: "placement group " + pg + " has no bundle on this node"}
	}
	for idx, b := range m {
		if in.Strategy.BundleIndex >= 0 && idx != in.Strategy.BundleIndex {
			continue
		}
		if req.Fits(b.avail) && n.gpus.fits(req["GPU"]) {
			return n.allocLocked(req, pg, idx), nil
		}
	}
	if in.Strategy.BundleIndex >= 0 {
		if _, ok := m[in.Strategy.BundleIndex]; !ok {
			return nil, &rpcpb.LeaseReply{Rejected: true, Message: fmt.Sprintf("bundle %d of placement group %s is not on this node", in.Strategy.BundleIndex, pg)}
		}
	}
	if in.GrantOrReject {
		return nil, &rpcpb.LeaseReply{Rejected: true, Message: "bundle has no room"}
	}
	return nil, nil
}

func (n *Node) allocLocked(req scheduler.Resources, pg string, idx int32) *lease {
	if pg != "" {
		req.SubFrom(n.bundles[pg][idx].avail)
	} else {
		req.SubFrom(n.available)
	}
	n.lastBusy = time.Now()
	return &lease{id: newLeaseID(), res: req.Clone(), pgID: pg, bundle: idx, epoch: n.epoch, gpus: n.gpus.take(req["GPU"])}
}

func (n *Node) freeLocked(l *lease) {
	if l.epoch != n.epoch {
		// Granted before the node dropped a GCS incarnation, which reset
		// its resources and bundles: there is nothing to give back.
		if n.leases[l.id] == l {
			delete(n.leases, l.id)
		}
		return
	}
	if pool := n.poolLocked(l); pool != nil {
		l.held().AddTo(pool)
	}
	n.gpus.give(l.gpus)
	l.gpus = nil
	delete(n.leases, l.id)
	n.lastBusy = time.Now()
	n.notifyLocked()
}

// grant attaches a worker to an allocated lease.
func (n *Node) grant(ctx context.Context, in *rpcpb.LeaseRequest, l *lease) (*rpcpb.LeaseReply, error) {
	w, err := n.popWorker(ctx, in.JobId, in.BinaryHash, in.EnvVars)
	if err != nil {
		n.mu.Lock()
		n.freeLocked(l)
		n.mu.Unlock()
		return nil, err
	}
	n.mu.Lock()
	if l.epoch != n.epoch {
		// The node dropped the GCS incarnation this request came in (and
		// killed its workers) while the worker was being started.
		n.killLocked(w)
		n.mu.Unlock()
		return nil, errOldIncarnation()
	}
	if err := ctx.Err(); err != nil {
		// The requester gave up (its owner cancelled the request: no more
		// queued tasks, or it exited) while the worker was being popped. No
		// one would ever return this lease: free it and keep the worker.
		n.freeLocked(l) // notifies waiting requests
		n.parkIdleLocked(w)
		n.mu.Unlock()
		return nil, status.FromContextError(err).Err()
	}
	if _, taken := n.leases[in.LeaseId]; in.LeaseId != "" && !taken {
		l.id = in.LeaseId // the requester's id: it can return a grant it never saw
		// Its owner is asked about it by this id (IsOwner), so only a lease
		// under the requester's own id is watched.
		l.owner = in.OwnerAddress
	}
	l.w = w
	l.granted, l.notRetriable = time.Now(), in.NotRetriable
	w.leased = true
	w.actorID = in.ActorId
	n.leases[l.id] = l
	gpuIDs := n.gpus.idsOf(l.gpus)
	n.mu.Unlock()
	return &rpcpb.LeaseReply{Granted: true, LeaseId: l.id, WorkerId: w.id, WorkerAddress: w.addr, WorkerSocket: w.socket, NodeId: n.ID(), WorkerPid: int32(w.pid),
		GpuIds: gpuIDs, NodeHasGpus: n.gpus.has()}, nil
}

// ReturnWorker ends a lease; the worker goes back to the pool unless broken.
func (n *Node) ReturnWorker(ctx context.Context, in *rpcpb.ReturnWorkerRequest) (*rpcpb.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.leases[in.LeaseId]
	if !ok {
		return &rpcpb.Empty{}, nil
	}
	n.freeLocked(l)
	w := l.w
	w.leased = false
	if in.WorkerBroken || w.actorID != "" || w.killed {
		w.killed = true
		if w.proc != nil {
			w.proc.Kill()
		}
		return &rpcpb.Empty{}, nil
	}
	n.parkIdleLocked(w)
	return &rpcpb.Empty{}, nil
}

// parkIdleLocked puts a worker in its pool (reaped after the idle timeout);
// one started for a GCS incarnation the node has dropped is killed instead.
func (n *Node) parkIdleLocked(w *worker) {
	if w.epoch != n.epoch {
		n.killLocked(w)
		return
	}
	n.idle.park(w.pool(), w.id, time.Now())
}

// pool is the idle pool the worker belongs to.
func (w *worker) pool() poolKey { return poolKey{job: w.jobID, hash: w.hash, env: w.env} }

// killLocked kills a worker process; workerExited cleans up after it.
func (n *Node) killLocked(w *worker) {
	w.killed = true
	if w.proc != nil {
		_ = w.proc.Kill()
	}
}

// GetWorkerFailureCause says why a worker ended (the memory monitor's reason).
func (n *Node) GetWorkerFailureCause(ctx context.Context, in *rpcpb.WorkerFailureCauseRequest) (*rpcpb.WorkerFailureCause, error) {
	if in.WorkerId == "" {
		return nil, status.Error(codes.InvalidArgument, "worker_id is required")
	}
	t, d := n.workerFailureCause(in.WorkerId)
	return &rpcpb.WorkerFailureCause{ExitType: t, ExitDetail: d}, nil
}

// KillWorker stops a worker process (ray.Kill of its actor, forced cancel).
func (n *Node) KillWorker(ctx context.Context, in *rpcpb.KillWorkerRequest) (*rpcpb.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if w, ok := n.workers[in.WorkerId]; ok {
		w.killed, w.userKill = true, true
		if w.proc != nil {
			w.proc.Kill()
		}
	}
	return &rpcpb.Empty{}, nil
}

// RegisterWorker is called by a worker process once it serves.
func (n *Node) RegisterWorker(ctx context.Context, in *rpcpb.RegisterWorkerRequest) (*rpcpb.RegisterWorkerReply, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	w, ok := n.workers[in.WorkerId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "worker %s was not started by this node", in.WorkerId)
	}
	if in.Address == "" {
		return nil, status.Error(codes.InvalidArgument, "worker registered without an address")
	}
	w.addr, w.socket = in.Address, in.Socket
	select {
	case <-w.registered:
	default:
		close(w.registered)
	}
	return &rpcpb.RegisterWorkerReply{NodeId: n.id, GcsAddress: n.cfg.GcsAddress, NodeIp: n.cfg.IP}, nil
}

// popWorker takes an idle worker of the job running the executable the
// request asks for (hash; "" = the job's, from the GCS) with the
// runtime_env variables it asks for, or starts one; the first lease of a
// (job, executable) without variables also pre-starts workers up to the
// node's CPUs.
func (n *Node) popWorker(ctx context.Context, job, hash string, envVars map[string]string) (*worker, error) {
	bin, hash, err := n.binaryFor(ctx, job, hash)
	if err != nil {
		return nil, err
	}
	key := poolKey{job: job, hash: hash, env: workerenv.EnvVarsKey(envVars)}
	n.mu.Lock()
	for {
		id, ok := n.idle.pop(key)
		if !ok {
			break
		}
		if w := n.workers[id]; w != nil {
			n.mu.Unlock()
			return w, nil
		}
	}
	// Workers for runtime_env variables are started as asked for.
	first := n.idle.firstLease(key)
	n.mu.Unlock()
	if first {
		for i := 1; i < int(n.total["CPU"]); i++ {
			go func() {
				if w, err := n.startWorker(context.Background(), key, bin, nil); err == nil {
					n.mu.Lock()
					n.parkIdleLocked(w)
					n.notifyLocked()
					n.mu.Unlock()
				}
			}()
		}
	}
	return n.startWorker(ctx, key, bin, envVars)
}

// startWorker starts a worker of key's job from bin, whose content is
// key.hash, with the runtime_env variables envVars (key.env's).
func (n *Node) startWorker(ctx context.Context, key poolKey, bin string, envVars map[string]string) (*worker, error) {
	n.mu.Lock()
	epoch, cluster := n.epoch, n.clusterID
	n.mu.Unlock()
	w := &worker{id: ids.New(), jobID: key.job, hash: key.hash, env: key.env, epoch: epoch, registered: make(chan struct{}), started: time.Now()}
	cmd := exec.Command(bin)
	cmd.Env = append(append(n.cfg.Security.ChildEnv(append(cmd.Environ(), n.cfg.WorkerEnv...), n.tokenFile),
		workerenv.EnvVarsEntries(envVars)...),
		workerenv.Env{NodeAddress: n.addr, GcsAddress: n.cfg.GcsAddress, WorkerID: w.id, JobID: key.job, BinaryHash: key.hash,
			NodeID: n.ID(), NodeIP: n.cfg.IP, SessionDir: n.cfg.Dir, ClusterID: cluster, ObjectDir: n.segments.Dir()}.Vars()...)
	logPath := filepath.Join(n.cfg.Dir, "logs", "worker-"+w.id+".log")
	if f, err := createLog(logPath); err == nil {
		cmd.Stdout, cmd.Stderr = f, f
		defer f.Close()
	}
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return nil, status.Errorf(codes.Internal, "start worker %s: %v", bin, err)
	}
	w.pid, w.proc = cmd.Process.Pid, cmd.Process
	n.mu.Lock()
	n.workers[w.id] = w
	if n.epoch != epoch {
		// The node dropped the incarnation it was started for before it
		// was in n.workers to be killed with the rest.
		n.killLocked(w)
	}
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		n.workerExited(w, err, logPath)
	}()
	select {
	case <-w.registered:
		return w, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, status.Errorf(codes.DeadlineExceeded, "worker %s (%s) did not register within 30s; see %s", w.id, bin, logPath)
	case <-ctx.Done():
		cmd.Process.Kill()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (n *Node) workerExited(w *worker, err error, logPath string) {
	n.segments.Drop(objectstore.SegmentName(w.id))
	n.mu.Lock()
	delete(n.workers, w.id)
	n.idle.remove(w.pool(), w.id)
	for _, l := range n.leases {
		if l.w == w {
			n.freeLocked(l)
		}
	}
	killed, oom := w.killed, w.oomReason
	owner := w.addr
	// Read under the lock: grant may be writing it (a worker popped from
	// the idle list while its process exits), which -race reported.
	actorID := w.actorID
	id := n.id
	n.exited.add(exitedWorker(w, err, time.Now()))
	// The GCS of a dropped incarnation is gone; the new one never knew it.
	report := w.epoch == n.epoch
	n.mu.Unlock()
	n.ownerExited(owner) // the objects it owned: nothing else would free them
	select {
	case <-w.registered:
	default:
		close(w.registered)
	}
	// Its unix socket (named with its id, see rpcutil.ListenUnix) would
	// stay behind: a process killed by a signal removes nothing.
	if socks, err := filepath.Glob(filepath.Join(n.cfg.Dir, "sockets", "*-"+w.id+".sock")); err == nil {
		for _, s := range socks {
			_ = os.Remove(s)
		}
	}
	reason := fmt.Sprintf("worker process %d exited: %v", w.pid, err)
	if !killed && oom == "" {
		n.log.Printf("%s (log: %s)", reason, logPath)
	}
	if !report {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if oom != "" {
		// Not intended: an actor it ran restarts if it may, with the reason.
		reason, killed = oom, false
	}
	_, _ = n.gcs.ReportWorkerFailure(ctx, &rpcpb.WorkerFailure{NodeId: id, WorkerId: w.id, ActorId: actorID, Reason: reason, Intentional: killed})
}
