package gcs

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/ids"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Lightweight actors (runtime/core/lite.go) run as instances inside host
// workers: the GCS leases one host per node, job and runtime_env the first
// time it places a lightweight actor there, holding no resources, and runs
// every later constructor of that shape on it — a creation is one call to
// a live process, not a process start. The host is forgotten when its
// process exits (its instances then fail, each restarting per its
// max_restarts on a new host), its node dies or its job finishes (the host
// is killed).

// liteHost is one host worker.
type liteHost struct {
	key, nodeID, jobID string
	workerID, addr     string
	pid                int32
	// ready closes once the lease was answered; err says it failed.
	ready chan struct{}
	err   error
}

// hostTable indexes host workers by shape and by worker (under Server.mu).
type hostTable struct {
	byKey    map[string]*liteHost
	byWorker map[string]*liteHost
}

func (t *hostTable) init() {
	if t.byKey == nil {
		t.byKey, t.byWorker = map[string]*liteHost{}, map[string]*liteHost{}
	}
}

// dropLocked forgets h (if it is still the host of its shape).
func (t *hostTable) dropLocked(h *liteHost) {
	if t.byKey[h.key] == h {
		delete(t.byKey, h.key)
	}
	if h.workerID != "" && t.byWorker[h.workerID] == h {
		delete(t.byWorker, h.workerID)
	}
}

// checkLightweight refuses a lightweight actor what it cannot have: its
// own resources, a placement group, a life beyond its job's host.
func checkLightweight(spec *rpcpb.ActorSpec) error {
	if !spec.Lightweight {
		return nil
	}
	for k, v := range spec.Resources {
		if v != 0 {
			return fmt.Errorf("a lightweight actor holds no resources (asked for %s=%g)", k, v)
		}
	}
	if spec.Detached {
		return errors.New("a lightweight actor cannot be detached (it lives in its job's host worker)")
	}
	if spec.GetStrategy().GetKind() == rpcpb.SchedulingStrategy_PLACEMENT_GROUP {
		return errors.New("a lightweight actor cannot run in a placement group (it holds no resources)")
	}
	return nil
}

// hostKey names the host of a spec's shape on a node.
func hostKey(nodeID string, spec *rpcpb.ActorSpec) string {
	keys := make([]string, 0, len(spec.EnvVars))
	for k := range spec.EnvVars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(nodeID + "\x00" + spec.JobId)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=" + spec.EnvVars[k])
	}
	return b.String()
}

// host returns the node's host worker for the spec's job and environment,
// leasing one if there is none yet (the callers meanwhile wait for it).
func (s *Server) host(ctx context.Context, nodeID string, spec *rpcpb.ActorSpec) (*liteHost, error) {
	key := hostKey(nodeID, spec)
	s.mu.Lock()
	s.hosts.init()
	h, ok := s.hosts.byKey[key]
	if !ok {
		h = &liteHost{key: key, nodeID: nodeID, jobID: spec.JobId, ready: make(chan struct{})}
		s.hosts.byKey[key] = h
	}
	s.mu.Unlock()
	if !ok {
		s.leaseHost(ctx, h, spec)
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if h.err != nil {
		return nil, h.err
	}
	return h, nil
}

// leaseHost leases a worker with no resources for h on its node.
func (s *Server) leaseHost(ctx context.Context, h *liteHost, spec *rpcpb.ActorSpec) {
	defer close(h.ready)
	fail := func(err error) {
		h.err = err
		s.mu.Lock()
		s.hosts.dropLocked(h)
		s.mu.Unlock()
	}
	c, _, ok := s.nodeClient(h.nodeID)
	if !ok {
		fail(fmt.Errorf("node %s is not alive", h.nodeID))
		return
	}
	s.mu.Lock()
	hash := ""
	if j, ok := s.jobs[spec.JobId]; ok {
		hash = j.BinaryHash
	}
	s.mu.Unlock()
	lease, err := c.RequestWorkerLease(ctx, &rpcpb.LeaseRequest{JobId: spec.JobId, BinaryHash: hash, GrantOrReject: true, ForActor: true,
		ActorId: "lightweight-host-" + ids.New(), EnvVars: spec.EnvVars})
	if err != nil || !lease.Granted {
		if err == nil {
			err = fmt.Errorf("node %s did not grant a host worker", h.nodeID)
		}
		fail(err)
		return
	}
	s.mu.Lock()
	h.workerID, h.addr, h.pid = lease.WorkerId, lease.WorkerAddress, lease.WorkerPid
	if s.hosts.byKey[h.key] == h {
		s.hosts.byWorker[h.workerID] = h
	}
	s.mu.Unlock()
}

// restoreHostLocked takes back the host of a lightweight actor a GCS
// restarted on its storage found ALIVE: later actors of its shape go to it,
// and its job's end kills it.
func (s *Server) restoreHostLocked(nodeID, workerID, addr string, spec *rpcpb.ActorSpec) {
	s.hosts.init()
	if workerID == "" || s.hosts.byWorker[workerID] != nil {
		return
	}
	h := &liteHost{key: hostKey(nodeID, spec), nodeID: nodeID, jobID: spec.JobId, workerID: workerID, addr: addr, ready: make(chan struct{})}
	close(h.ready)
	s.hosts.byWorker[workerID] = h
	if _, ok := s.hosts.byKey[h.key]; !ok {
		s.hosts.byKey[h.key] = h
	}
}

// tryCreateLite runs a lightweight actor's constructor on its host on
// nodeID; false means: place it again later.
func (s *Server) tryCreateLite(id, nodeID string, spec *rpcpb.ActorSpec) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := s.host(ctx, nodeID, spec)
	if err != nil {
		s.log.Printf("actor %s: no host worker on node %s: %v", id, nodeID, err)
		return false
	}
	s.mu.Lock()
	s.dir.Placed(id, nodeID, h.workerID)
	if a, ok := s.dir.Get(id); ok {
		a.PID = int(h.pid)
	}
	s.mu.Unlock()
	conn, err := s.pool.Get(h.addr)
	if err != nil {
		return false
	}
	task := &rpcpb.TaskSpec{TaskId: ids.New(), JobId: spec.JobId, Name: spec.ClassName, Args: spec.Args,
		OwnerAddress: spec.OwnerAddress, ActorId: id, ActorCreation: true, MaxConcurrency: spec.MaxConcurrency,
		ConcurrencyGroups: spec.ConcurrencyGroups, Lightweight: true}
	res, err := rpcpb.NewCoreWorkerClient(conn).CreateActor(ctx, task)
	if err != nil {
		s.log.Printf("actor %s: constructor call on host %s failed: %v", id, h.workerID, err)
		if c := status.Code(err); c == codes.Unavailable || c == codes.FailedPrecondition {
			// The host is gone (or is not one): the next try leases another.
			s.mu.Lock()
			s.hosts.dropLocked(h)
			s.mu.Unlock()
		}
		s.unplaced(id, h.workerID)
		return false
	}
	// A failed constructor leaves the host to its other instances.
	s.constructed(id, nodeID, h.workerID, h.addr, res, false)
	return true
}

// killInstance ends a lightweight actor's instance in its host.
func (s *Server) killInstance(workerID, actorID string) {
	s.mu.Lock()
	h := s.hosts.byWorker[workerID]
	s.mu.Unlock()
	if h == nil {
		return // the host is gone, and the instance with it
	}
	conn, err := s.pool.Get(h.addr)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = rpcpb.NewCoreWorkerClient(conn).Exit(ctx, &rpcpb.ExitRequest{ActorId: actorID})
}

// hostDiedLocked forgets the host that ran on a worker that exited.
func (s *Server) hostDiedLocked(workerID string) {
	if h := s.hosts.byWorker[workerID]; h != nil {
		s.hosts.dropLocked(h)
		go s.pool.Drop(h.addr)
	}
}

// hostsOnNodeDiedLocked forgets a dead node's hosts.
func (s *Server) hostsOnNodeDiedLocked(nodeID string) {
	for _, h := range s.hosts.byKey {
		if h.nodeID == nodeID {
			s.hosts.dropLocked(h)
		}
	}
}

// hostsOnJobFinishedLocked forgets a finished job's hosts, returning them
// to be killed.
func (s *Server) hostsOnJobFinishedLocked(jobID string) []*liteHost {
	var out []*liteHost
	for _, h := range s.hosts.byKey {
		if h.jobID == jobID {
			s.hosts.dropLocked(h)
			out = append(out, h)
		}
	}
	return out
}
