// Package gcs is goray's Global Control Store, run by the head node: the node
// registry (heartbeats and death detection), the cluster resource view every
// node manager syncs, the job table with the jobs' executables
// (content-addressed, for code shipping), internal KV, the actor directory,
// placement groups, and the pending demand the autoscaler reads. Decisions are
// made by the pure packages scheduler and actors; this package does the I/O.
package gcs

import (
	"context"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

// Config configures a GCS.
type Config struct {
	// HeartbeatTimeout is how long a node may stay silent before it is declared dead.
	HeartbeatTimeout time.Duration
	// Dir holds uploaded executables.
	Dir         string
	SessionName string
	Logger      *log.Logger
	// Security is what the GCS's calls to nodes and workers carry.
	Security auth.Config
	// Storage is where every table is written through to and loaded from
	// at the start (see Open). Nil keeps everything in memory only.
	Storage storage.Store
	// BlobsInStorage writes uploaded executables and packages through to
	// Storage too (see blobs.go): for a storage that outlives the head's
	// disk (Redis), not for one whose volume holds Dir (the file store).
	BlobsInStorage bool
	// ReregisterTimeout is how long nodes loaded from the storage have to
	// register again before they are declared dead (3 × HeartbeatTimeout,
	// at least 60 s).
	ReregisterTimeout time.Duration
}

type nodeRec struct {
	info      *rpcpb.NodeInfo
	alive     bool
	lastSeen  time.Time
	available map[string]float64
	demand    []*rpcpb.ResourceDemand
	idleMs    int64
	storeUsed int64
	storeObjs int64
	death     string
	draining  bool
	// awaiting: loaded from the storage, not registered with this GCS yet.
	awaiting bool
	// infoAt is the info version of its registration (info).
	infoAt int64
}

// Server implements the Gcs gRPC service.
type Server struct {
	rpcpb.UnimplementedGcsServer
	cfg  Config
	pool *rpcutil.Pool
	log  *log.Logger

	blobLocks blobLocks

	mu      sync.Mutex
	changed chan struct{}
	nodes   map[string]*nodeRec
	version int64
	// infoVersion counts node registrations from infoBase (this GCS's
	// start): a heartbeat answered for a node that has the view as of a
	// version leaves out the registration fields of the nodes it knows
	// (viewLocked).
	infoBase, infoVersion int64
	jobs                  map[string]*rpcpb.JobInfo
	jobSeq                uint64
	kv                    map[string][]byte
	dir                   *actors.Directory
	// hosts are the host workers of lightweight actors (lite.go).
	hosts hostTable
	// actorWaits close at their actor's next change (GetActor's waits).
	actorWaits map[string]chan struct{}
	pgs        map[string]*placementGroup
	sched      scheduler.State
	// constraints is the RequestResources minimum cluster shape.
	constraints []*rpcpb.ResourceDemand
	// autoscaling is the autoscaler's last report.
	autoscaling *rpcpb.AutoscalingState
	stop        chan struct{}
	stopOnce    sync.Once

	// p writes changes through to cfg.Storage (nil without one).
	p *persister
	// incarnation is new for every GCS process; clusterID is kept in the storage.
	incarnation, clusterID string
	// reregisterBy is when loaded nodes that did not register again are declared dead.
	reregisterBy time.Time
	// driversQuietUntil: no job's driver is judged dead before it (set
	// when unfinished jobs are loaded from the storage; driverwatch.go).
	driversQuietUntil time.Time
	// tasks is the task event history (tasks.go).
	tasks *taskHistory
	// events is the cluster event history (clusterevents.go).
	events *eventLog
}

// New makes a GCS that keeps its tables in memory only. Call Run to start
// death detection. With a cfg.Storage use Open.
func New(cfg Config) *Server {
	if cfg.Storage != nil {
		panic("gcs.New with a Storage: use gcs.Open")
	}
	s, _ := Open(context.Background(), cfg)
	return s
}

// Open makes a GCS on cfg.Storage: it loads every table the storage holds
// (a GCS restarted on the same storage lists the same jobs, KV, actors,
// placement groups and nodes, and never reuses a job id) and writes every
// change through to it before answering the call that made it.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 10 * time.Second
	}
	if cfg.ReregisterTimeout == 0 {
		// Ray gives raylets 60 s to reconnect to a restarted GCS; a node's
		// gRPC reconnect backoff after a long outage can reach tens of seconds.
		cfg.ReregisterTimeout = max(3*cfg.HeartbeatTimeout, 60*time.Second)
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr, "[gcs] ", log.LstdFlags)
	}
	if cfg.SessionName == "" {
		cfg.SessionName = "session_" + time.Now().Format("2006-01-02_15-04-05") + "_" + randomHex(3)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, pool: rpcutil.NewPool(cfg.Security), changed: make(chan struct{}),
		nodes: map[string]*nodeRec{}, jobs: map[string]*rpcpb.JobInfo{}, kv: map[string][]byte{},
		dir: actors.NewDirectory(), pgs: map[string]*placementGroup{}, stop: make(chan struct{}),
		incarnation: randomHex(8), clusterID: randomHex(8), jobSeq: initialJobSeq(), tasks: newTaskHistory()}
	// Above any version an earlier GCS gave (time moves on): a node that
	// kept one gets whole views from this one.
	s.infoBase = time.Now().UnixNano()
	s.infoVersion = s.infoBase
	s.events = newEventLog(s.incarnation)
	if cfg.Storage == nil {
		return s, nil
	}
	s.p = newPersister(cfg.Storage, cfg.Logger)
	if err := s.load(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Run watches heartbeats and the drivers of unfinished jobs
// (drivers.go) until Stop.
func (s *Server) Run() {
	go s.watchDrivers()
	t := time.NewTicker(s.cfg.HeartbeatTimeout / 5)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.checkNodes()
		}
	}
}

// Stop ends background work, writes what is queued for the storage (for
// a few seconds at most) and closes client connections. The storage is the
// caller's to close, after Stop.
func (s *Server) Stop() {
	s.stopOnce.Do(func() { close(s.stop); s.pool.Close(); s.p.close() })
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
	s.version++
}

// waitLocked releases the lock until something changes or ctx ends.
func (s *Server) waitLocked(ctx context.Context) error {
	return s.waitOnLocked(ctx, s.changed)
}

// waitOnLocked releases the lock until ch is closed or ctx ends.
func (s *Server) waitOnLocked(ctx context.Context, ch chan struct{}) error {
	s.mu.Unlock()
	defer s.mu.Lock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return status.Error(codes.Unavailable, "gcs stopping")
	}
}

func (s *Server) checkNodes() {
	now := time.Now()
	s.mu.Lock()
	var dead []string
	for id, n := range s.nodes {
		if n.alive && now.Sub(n.lastSeen) > s.cfg.HeartbeatTimeout {
			n.alive = false
			n.death = fmt.Sprintf("no heartbeat for %s", s.cfg.HeartbeatTimeout)
			dead = append(dead, id)
		}
		if n.awaiting && now.After(s.reregisterBy) {
			n.awaiting = false
			n.death = fmt.Sprintf("did not register again within %s of a GCS restart", s.cfg.ReregisterTimeout)
			dead = append(dead, id)
		}
	}
	s.mu.Unlock()
	for _, id := range dead {
		s.nodeDied(id)
	}
}

func (s *Server) nodeDied(id string) {
	s.log.Printf("node %s is dead", id)
	s.mu.Lock()
	var addr string
	if n, ok := s.nodes[id]; ok {
		addr = n.info.Address
		s.persistLocked(nodeOp(id, n))
		s.nodeDiedEvent(id, n.info.Ip, n.death, strings.HasPrefix(n.death, unregisteredPrefix))
	}
	effs := s.dir.NodeDied(id)
	s.hostsOnNodeDiedLocked(id)
	s.saveActorsLocked(effs)
	pgs := s.pgsOnNodeLocked(id)
	s.notifyLocked()
	s.mu.Unlock()
	// Its connection goes now: nothing calls a dead node (nodeClient
	// refuses), and one pooled connection per node that ever died would
	// pile up over a long-lived cluster.
	s.pool.Drop(addr)
	s.tasksOnNodeDied(id)
	s.apply(effs)
	for _, pg := range pgs {
		s.reschedulePG(pg)
	}
}

// RegisterNode adds a node (or re-registers a restarted one).
func (s *Server) RegisterNode(ctx context.Context, in *rpcpb.NodeInfo) (*rpcpb.RegisterNodeReply, error) {
	if in.Address == "" {
		return nil, status.Error(codes.InvalidArgument, "node address is required")
	}
	if in.NodeId == "" {
		in.NodeId = ids.New()
	}
	if len(in.WorkerIds) > maxNodeWorkers {
		return nil, status.Errorf(codes.InvalidArgument, "node registration naming %d workers; at most %d", len(in.WorkerIds), maxNodeWorkers)
	}
	workers := map[string]bool{}
	for _, w := range in.WorkerIds {
		workers[w] = true
	}
	in.WorkerIds = nil // not part of the stored record
	if n := proto.Size(in); n > maxNodeRecord/2 {
		return nil, status.Errorf(codes.InvalidArgument, "node registration of %d bytes; at most %d", n, maxNodeRecord/2)
	}
	s.mu.Lock()
	var effs []actors.Effect
	old, again := s.nodes[in.NodeId]
	if again && old.awaiting {
		effs = s.dir.NodeReturned(in.NodeId, workers)
	}
	in.Labels = withNodeIDLabel(in.Labels, in.NodeId)
	s.infoVersion++
	n := &nodeRec{info: in, alive: true, lastSeen: time.Now(), available: copyMap(in.Total), infoAt: s.infoVersion}
	s.nodes[in.NodeId] = n
	seq := s.persistLocked(nodeOp(in.NodeId, n))
	if aseq := s.saveActorsLocked(effs); aseq > seq {
		seq = aseq
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.apply(effs)
	if err := s.durable(ctx, seq); err != nil {
		return nil, err
	}
	s.log.Printf("node %s registered at %s (instance %q, type %q, resources %v)", in.NodeId, in.Address, in.InstanceId, in.NodeTypeName, in.Total)
	s.nodeRegisteredEvent(in, again)
	return &rpcpb.RegisterNodeReply{NodeId: in.NodeId, SessionName: s.cfg.SessionName, HeartbeatTimeoutMs: s.cfg.HeartbeatTimeout.Milliseconds()}, nil
}

// ReportNode is the heartbeat; it answers with the cluster view.
func (s *Server) ReportNode(ctx context.Context, in *rpcpb.NodeReport) (*rpcpb.ClusterView, error) {
	s.mu.Lock()
	n, ok := s.nodes[in.NodeId]
	if !ok || !n.alive {
		s.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "node %s is not registered or was declared dead; re-register", in.NodeId)
	}
	n.lastSeen = time.Now()
	if !mapsEqual(n.available, in.Available) {
		s.version++
	}
	n.available = in.Available
	n.demand = in.Demand
	n.idleMs = in.IdleMs
	n.storeUsed = in.ObjectStoreUsed
	n.storeObjs = in.ObjectStoreObjects
	v := s.viewLocked(in.KnownInfoVersion)
	s.mu.Unlock()
	return v, nil
}

// viewLocked is the cluster view. For a requester that has the view as of
// info version known (from this GCS), the registration fields of the nodes
// registered by then are left out: a heartbeat's answer then carries what
// moves (availability, liveness, load), not every node's total and labels
// again — the bulk of a GCS's work with hundreds of nodes.
func (s *Server) viewLocked(known int64) *rpcpb.ClusterView {
	v := &rpcpb.ClusterView{Version: s.version, InfoVersion: s.infoVersion, Nodes: make([]*rpcpb.NodeView, 0, len(s.nodes))}
	for id, n := range s.nodes {
		nv := &rpcpb.NodeView{NodeId: id, Alive: n.alive, Available: n.available, IdleDurationMs: n.idleMs, ObjectStoreUsed: n.storeUsed,
			DeathReason: n.death, Status: n.status(), ObjectStoreObjects: n.storeObjs}
		if known >= s.infoBase && known >= n.infoAt {
			nv.InfoOmitted = true
		} else {
			nv.Address, nv.Ip, nv.Total, nv.Labels, nv.InstanceId, nv.NodeTypeName, nv.IsHead = n.info.Address, n.info.Ip,
				n.info.Total, n.info.Labels, n.info.InstanceId, n.info.NodeTypeName, n.info.IsHead
		}
		v.Nodes = append(v.Nodes, nv)
	}
	sort.Slice(v.Nodes, func(i, j int) bool { return v.Nodes[i].NodeId < v.Nodes[j].NodeId })
	return v
}

// GetNodes returns the cluster view.
func (s *Server) GetNodes(ctx context.Context, _ *rpcpb.GetNodesRequest) (*rpcpb.ClusterView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewLocked(0), nil
}

// CheckAlive answers for node manager addresses (an empty list checks the GCS itself).
func (s *Server) CheckAlive(ctx context.Context, in *rpcpb.CheckAliveRequest) (*rpcpb.CheckAliveReply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &rpcpb.CheckAliveReply{}
	for _, a := range in.Addresses {
		alive := false
		for _, n := range s.nodes {
			if n.info.Address == a && n.alive {
				alive = true
			}
		}
		out.Alive = append(out.Alive, alive)
	}
	return out, nil
}

// ReportWorkerFailure is called by node managers when a worker process exits:
// the actors it ran fail and the non-detached actors it owned die
// (actors.Directory.WorkerDied).
func (s *Server) ReportWorkerFailure(ctx context.Context, in *rpcpb.WorkerFailure) (*rpcpb.Empty, error) {
	s.mu.Lock()
	effs := s.dir.WorkerDied(in.WorkerId, in.Reason)
	s.hostDiedLocked(in.WorkerId) // before its instances are placed again
	seq := s.saveActorsLocked(effs)
	if len(effs) > 0 {
		s.notifyLocked()
	}
	s.mu.Unlock()
	s.tasksOnWorkerDied(in.WorkerId, in.Reason)
	s.workerFailureEvent(in)
	s.apply(effs)
	if err := s.durable(ctx, seq); err != nil {
		return nil, err
	}
	return &rpcpb.Empty{}, nil
}

// AddJob registers a driver.
// A job id is the counter in 8 hex digits; the counter is stored with every
// job, so a GCS restarted on its storage goes on where it was.
func (s *Server) AddJob(ctx context.Context, in *rpcpb.JobInfo) (*rpcpb.JobInfo, error) {
	if n := proto.Size(in); n > maxJobRecord/2 {
		return nil, status.Errorf(codes.InvalidArgument, "job info of %d bytes; at most %d", n, maxJobRecord/2)
	}
	s.mu.Lock()
	var ops []storage.Op
	if in.JobId != "" {
		// A job id given is a driver taking its job over again (the serve
		// controller restarted with its head): the record keeps its id,
		// start time and workers; only the driver's address changes.
		j, err := rejoinable(s.jobs[in.JobId], in)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		in = j
	} else {
		s.jobSeq++
		in.JobId = fmt.Sprintf("%08x", s.jobSeq)
		ops = append(ops, metaOp(metaJobSeq, strconv.FormatUint(s.jobSeq, 16)))
		if in.Namespace == "" {
			in.Namespace = "default"
		}
		in.StartTimeMs = time.Now().UnixMilli()
	}
	s.jobs[in.JobId] = in
	seq := s.persistLocked(append(ops, jobOp(in))...)
	s.jobEvent(in, false)
	// The reply is marshalled after the lock is released, while
	// MarkJobFinished may change the stored record: a copy goes out.
	reply := proto.CloneOf(in)
	s.notifyLocked()
	s.mu.Unlock()
	if err := s.durable(ctx, seq); err != nil {
		return nil, err
	}
	return reply, nil
}

// rejoinable is the record of job j taken over by the driver in req: the
// same executable, not finished, with req's driver address.
func rejoinable(j, req *rpcpb.JobInfo) (*rpcpb.JobInfo, error) {
	switch {
	case j == nil:
		return nil, status.Errorf(codes.NotFound, "job %s is not in the GCS: register a new job (leave job_id empty)", req.JobId)
	case j.Finished:
		return nil, status.Errorf(codes.FailedPrecondition, "job %s has finished: register a new job (leave job_id empty)", req.JobId)
	case j.BinaryHash != req.BinaryHash:
		return nil, status.Errorf(codes.FailedPrecondition, "job %s runs executable %s, not %s", req.JobId, j.BinaryHash, req.BinaryHash)
	}
	out := proto.CloneOf(j)
	out.DriverAddress = req.DriverAddress
	return out, nil
}

// MarkJobFinished ends a job and its non-detached actors.
func (s *Server) MarkJobFinished(ctx context.Context, in *rpcpb.JobInfo) (*rpcpb.Empty, error) {
	if err := s.endJob(ctx, in.JobId, "", ""); err != nil {
		return nil, err
	}
	return &rpcpb.Empty{}, nil
}

// endJob ends a job: its record says finished, its non-detached actors
// die, its lightweight hosts and non-detached placement groups go. With
// driver set it is the GCS's own finding that the job's driver, at that
// address, died (how; see driverwatch.go): nothing is done unless the job
// is still unfinished with that driver (it may have ended, or been taken
// over by another driver, since the probe).
func (s *Server) endJob(ctx context.Context, jobID, driver, how string) error {
	s.mu.Lock()
	j, ok := s.jobs[jobID]
	if driver != "" && (!ok || j.Finished || j.DriverAddress != driver) {
		s.mu.Unlock()
		return nil
	}
	if ok {
		if !j.Finished {
			if driver != "" {
				s.driverDiedEvent(j, how)
			}
			s.jobEvent(j, true)
		}
		j.Finished = true
		j.EndTimeMs = time.Now().UnixMilli()
		s.persistLocked(jobOp(j))
	}
	var effs []actors.Effect
	if driver != "" {
		effs = s.dir.DriverDied(jobID, driver, how)
	} else {
		effs = s.dir.JobFinished(jobID)
	}
	hosts := s.hostsOnJobFinishedLocked(jobID)
	s.saveActorsLocked(effs)
	var pgs []*placementGroup
	for _, pg := range s.pgs {
		if pg.spec.JobId == jobID && !pg.spec.Detached {
			pgs = append(pgs, pg)
		}
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.tasksOnJobFinished(jobID)
	s.apply(effs)
	for _, h := range hosts {
		if h.workerID != "" {
			go s.killWorker(h.nodeID, h.workerID)
		}
	}
	for _, pg := range pgs {
		_ = s.removePG(pg.id)
	}
	// The job's record, its actors' and its placement groups' removal.
	return s.settle(ctx)
}

// GetJobs lists jobs.
func (s *Server) GetJobs(ctx context.Context, _ *rpcpb.Empty) (*rpcpb.JobList, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &rpcpb.JobList{}
	for _, j := range s.jobs {
		out.Jobs = append(out.Jobs, proto.CloneOf(j)) // marshalled after the lock is released
	}
	sort.Slice(out.Jobs, func(i, j int) bool { return out.Jobs[i].JobId < out.Jobs[j].JobId })
	return out, nil
}

func kvKey(ns, k string) string { return ns + "\x00" + k }

// checkKV bounds a KV key and value so that every storage backend can hold them.
func checkKV(in *rpcpb.KvRequest) error {
	if len(in.Namespace) > maxKVNamespace {
		return status.Errorf(codes.InvalidArgument, "KV namespace of %d bytes; at most %d", len(in.Namespace), maxKVNamespace)
	}
	if len(in.Key) > maxKVKeyBytes {
		return status.Errorf(codes.InvalidArgument, "KV key of %d bytes; at most %d", len(in.Key), maxKVKeyBytes)
	}
	if len(in.Value) > storage.MaxValueBytes {
		return status.Errorf(codes.InvalidArgument, "KV value of %d bytes; at most %d", len(in.Value), storage.MaxValueBytes)
	}
	return nil
}

// KvPut stores a value; without overwrite an existing key is kept.
func (s *Server) KvPut(ctx context.Context, in *rpcpb.KvRequest) (*rpcpb.KvReply, error) {
	if err := checkKV(in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	k := kvKey(in.Namespace, in.Key)
	if _, ok := s.kv[k]; ok && !in.Overwrite {
		s.mu.Unlock()
		// The key the caller did not overwrite is durable before it hears so.
		if err := s.settle(ctx); err != nil {
			return nil, err
		}
		return &rpcpb.KvReply{Added: false}, nil
	}
	s.kv[k] = in.Value
	seq := s.persistLocked(storage.Op{Table: storage.KV, Key: k, Value: in.Value})
	s.mu.Unlock()
	if err := s.durable(ctx, seq); err != nil {
		return nil, err
	}
	return &rpcpb.KvReply{Added: true}, nil
}

// KvGet reads a value.
func (s *Server) KvGet(ctx context.Context, in *rpcpb.KvRequest) (*rpcpb.KvReply, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kv[kvKey(in.Namespace, in.Key)]
	return &rpcpb.KvReply{Value: v, Found: ok}, nil
}

// KvDel deletes a key.
func (s *Server) KvDel(ctx context.Context, in *rpcpb.KvRequest) (*rpcpb.KvReply, error) {
	s.mu.Lock()
	k := kvKey(in.Namespace, in.Key)
	_, ok := s.kv[k]
	delete(s.kv, k)
	var seq uint64
	if ok {
		seq = s.persistLocked(storage.Op{Table: storage.KV, Key: k, Delete: true})
	}
	s.mu.Unlock()
	if err := s.durable(ctx, seq); err != nil {
		return nil, err
	}
	return &rpcpb.KvReply{Found: ok}, nil
}

// KvKeys lists keys of a namespace starting with the request's key.
func (s *Server) KvKeys(ctx context.Context, in *rpcpb.KvRequest) (*rpcpb.KvReply, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &rpcpb.KvReply{}
	prefix := kvKey(in.Namespace, in.Key)
	for k := range s.kv {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out.Keys = append(out.Keys, k[len(in.Namespace)+1:])
		}
	}
	sort.Strings(out.Keys)
	return out, nil
}

// GetClusterStatus is the resource state the autoscaler and `goray status` read.
func (s *Server) GetClusterStatus(ctx context.Context, _ *rpcpb.Empty) (*rpcpb.ClusterStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.viewLocked(0)
	out := &rpcpb.ClusterStatus{Version: s.version, Nodes: v.Nodes, SessionName: s.cfg.SessionName,
		Constraints: s.constraints, AutoscalingState: s.autoscaling}
	agg := map[string]*rpcpb.ResourceDemand{}
	add := func(shape map[string]float64, sel map[string]string, n int64) {
		k := scheduler.Resources(shape).Key()
		if len(sel) > 0 {
			k += "|" + scheduler.Selector(sel).String()
		}
		d, ok := agg[k]
		if !ok {
			d = &rpcpb.ResourceDemand{Shape: shape, LabelSelector: sel, Infeasible: !s.feasibleLocked(shape, sel)}
			agg[k] = d
		}
		d.Count += n
	}
	for _, n := range s.nodes {
		if !n.alive {
			continue
		}
		for _, d := range n.demand {
			add(d.Shape, d.LabelSelector, d.Count)
		}
	}
	for _, a := range s.dir.All() {
		switch a.State {
		case actors.Alive:
			out.AliveActors++
		case actors.PendingCreation, actors.Restarting:
			out.PendingActors++
			if a.WorkerID == "" {
				if spec, ok := a.Spec.(*rpcpb.ActorSpec); ok {
					add(spec.Resources, spec.GetStrategy().GetLabelSelector(), 1)
				}
			}
		}
	}
	keys := make([]string, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.Pending = append(out.Pending, agg[k])
	}
	for _, pg := range s.pgs {
		if pg.state == "PENDING" {
			out.PendingGangs = append(out.PendingGangs, &rpcpb.GangDemand{PlacementGroupId: pg.id, Strategy: pg.spec.Strategy, Bundles: pg.spec.Bundles})
		}
	}
	return out, nil
}

func (s *Server) feasibleLocked(shape map[string]float64, sel scheduler.Selector) bool {
	for _, n := range s.nodes {
		if n.alive && !n.draining && scheduler.Resources(shape).Fits(n.info.Total) && (len(sel) == 0 || sel.Matches(n.info.Labels)) {
			return true
		}
	}
	return false
}

func (s *Server) snapshotLocked() []scheduler.Node {
	var out []scheduler.Node
	for id, n := range s.nodes {
		// A draining node takes no new work.
		out = append(out, scheduler.Node{ID: id, Alive: n.alive && !n.draining, Total: n.info.Total, Available: copyMap(n.available),
			Labels: n.info.Labels})
	}
	return out
}

// withNodeIDLabel is labels with the node's id as its ray.io/node-id
// label, which every node has (as in Ray), whatever it was started with.
func withNodeIDLabel(labels map[string]string, id string) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[k] = v
	}
	out[scheduler.NodeIDLabel] = id
	return out
}

func copyMap(m map[string]float64) map[string]float64 {
	c := make(map[string]float64, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
