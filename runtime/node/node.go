// Package node is goray's node manager (Ray's raylet), run on every node: it
// owns the node's resources (CPU, memory, GPU, custom) and placement-group
// bundles, grants worker leases locally or spills them back to a node with
// room, runs the worker pool (worker processes exec'd from the job's
// executable, pre-started, reused and reaped when idle), serves the node's
// object store in chunks, and heartbeats its state and queued demand to the GCS.
package node

import (
	"context"
	"fmt"
	"log"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/objectstore"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

// Config configures a node manager.
type Config struct {
	NodeID       string
	IP           string
	Port         int
	GcsAddress   string
	Resources    map[string]float64
	Labels       map[string]string
	InstanceID   string // RAY_CLOUD_INSTANCE_ID
	NodeTypeName string // RAY_NODE_TYPE_NAME
	IsHead       bool
	// StoreCapacity is the object store's in-memory capacity in bytes.
	StoreCapacity int64
	// Dir is the node's session directory (executables, spill files, worker logs).
	Dir               string
	HeartbeatInterval time.Duration
	IdleWorkerTimeout time.Duration
	// WorkerEnv is added to every worker's environment.
	WorkerEnv []string
	Logger    *log.Logger
	// Security is what the node manager requires of callers and sends to
	// the GCS and workers; its workers get the token by a file in Dir.
	Security auth.Config
}

type worker struct {
	id, jobID, addr string
	// hash is the sha256 of the executable it runs: with the job id, the
	// pool it goes back to (see poolKey).
	hash string
	// env is the key of the runtime_env variables it was started with.
	env string
	// epoch is the GCS incarnation it was started in (see Node.epoch).
	epoch      uint64
	socket     string // a unix socket it also serves on ("" = none)
	pid        int
	proc       *os.Process
	registered chan struct{}
	leased     bool
	actorID    string
	killed     bool
	started    time.Time
	// userKill: stopped by ray.Kill or a forced cancel (KillWorker).
	userKill bool
	// oomReason: killed by the memory monitor, why (memmon.go).
	oomReason string
}

type lease struct {
	id     string
	w      *worker
	res    scheduler.Resources
	pgID   string
	bundle int32
	// epoch is the GCS incarnation it was granted in: the resources of a
	// lease granted before the node dropped an incarnation are no longer
	// counted, so returning it gives nothing back.
	epoch uint64
	// lent is what the lease lends back while its worker is blocked on
	// objects (blocked.go): its CPUs. nil when not blocked.
	lent scheduler.Resources
	// gpus are the GPU devices it holds (gpus.go).
	gpus []gpuShare
	// granted and notRetriable order the memory monitor's victims (memmon.go).
	granted      time.Time
	notRetriable bool
	// owner is the address of the process whose tasks it runs (the
	// request's owner_address; "" for the GCS's actor leases): watched, so
	// a dead owner's leases end (owners.go).
	owner string
}

// poolKey names a pool of idle workers: a worker serves only leases of its
// job whose owner runs the same executable, so a job id that a restarted GCS
// gave to another program never gets a worker running the old one, and
// that ask for the runtime_env variables it was started with (env, their
// workerenv.EnvVarsKey).
type poolKey struct{ job, hash, env string }

type bundle struct {
	total, avail scheduler.Resources
}

// Node is a running node manager.
type Node struct {
	rpcpb.UnimplementedNodeManagerServer
	cfg   Config
	log   *log.Logger
	pool  *rpcutil.Pool
	gcs   rpcpb.GcsClient
	Store *objectstore.Store
	// exited remembers the last workers that exited (workers.go).
	exited exitedWorkers

	lis  net.Listener
	srv  *grpc.Server
	addr string
	// tokenFile hands the auth token to workers ("" without one).
	tokenFile string
	// gpus are the node's GPU devices, by lease (gpus.go).
	gpus *gpuSet
	// segments are the shared-memory segments this node's workers hand
	// objects over in (objectstore/transfer.go).
	segments *objectstore.Segments

	// pullsMu guards the objects being pulled from other nodes, the relay
	// chains of objects sent from here, and the nodes holding copies of
	// objects pulled from here (pulls.go, relays.go).
	pullsMu sync.Mutex
	pulls   map[string]*pull
	relays  *relayPlan
	copies  map[string]*copies

	mu        sync.Mutex
	id        string
	changed   chan struct{}
	total     scheduler.Resources
	available scheduler.Resources
	view      []*rpcpb.NodeView
	views     viewCache // what the GCS leaves out of heartbeat views
	sched     scheduler.State
	workers   map[string]*worker
	idle      *idlePool // idle workers by pool (pool.go)
	leases    map[string]*lease
	demand    map[string]*rpcpb.ResourceDemand
	bundles   map[string]map[int32]*bundle
	labels    map[string]string       // the node's labels, ray.io/node-id too (once registered)
	binaries  map[string]cachedBinary // executable hash -> where it is
	jobHashes map[string]string       // job id -> executable hash, for requests without one
	lastBusy  time.Time
	// clusterID is the GCS cluster id this node registered under ("" before
	// the first reply that carried one); epoch counts the incarnations this
	// node dropped (see incarnation.go).
	clusterID string
	epoch     uint64
	// draining: the GCS drained this node; it takes no new work.
	draining bool
	// kick asks for a heartbeat now (new queued demand), so the autoscaler sees it at once.
	kick     chan struct{}
	done     chan struct{}
	doneOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// Start listens, registers with the GCS and starts heartbeats and the idle reaper.
func Start(cfg Config) (*Node, error) {
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = time.Second
	}
	if cfg.IdleWorkerTimeout == 0 {
		cfg.IdleWorkerTimeout = idleWorkerTimeout(os.Getenv)
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr, "[node] ", log.LstdFlags)
	}
	if cfg.StoreCapacity <= 0 {
		cfg.StoreCapacity = 2 << 30
	}
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "goray-node-")
		if err != nil {
			return nil, err
		}
		cfg.Dir = d
	}
	res := scheduler.Resources(cfg.Resources).Clone()
	n := &Node{cfg: cfg, log: cfg.Logger, pool: rpcutil.NewPool(cfg.Security), changed: make(chan struct{}),
		Store: objectstore.New(cfg.StoreCapacity, filepath.Join(cfg.Dir, "spill")), total: res, available: res.Clone(),
		workers: map[string]*worker{}, idle: newIdlePool(), leases: map[string]*lease{},
		demand: map[string]*rpcpb.ResourceDemand{}, bundles: map[string]map[int32]*bundle{}, binaries: map[string]cachedBinary{},
		jobHashes: map[string]string{}, lastBusy: time.Now(), stop: make(chan struct{}),
		kick: make(chan struct{}, 1), done: make(chan struct{}),
		pulls: map[string]*pull{}, relays: newRelayPlan(), copies: map[string]*copies{}}
	tokenFile, err := cfg.Security.WriteTokenFile(filepath.Join(cfg.Dir, "secrets"))
	if err != nil {
		return nil, err
	}
	n.tokenFile = tokenFile
	n.gpus = newGPUSet(res["GPU"], os.Getenv("CUDA_VISIBLE_DEVICES"))
	n.segments = objectstore.NewSegments(objectstore.NewTransferDir())
	lis, err := rpcutil.Listen(rpcutil.BindHost(cfg.IP), cfg.Port)
	if err != nil {
		return nil, fmt.Errorf("node manager listen on %s:%d: %w", cfg.IP, cfg.Port, err)
	}
	n.lis = lis
	n.addr = net.JoinHostPort(cfg.IP, strconv.Itoa(lis.Addr().(*net.TCPAddr).Port))
	n.srv = grpc.NewServer(rpcutil.ServerOptions(cfg.Security)...)
	rpcpb.RegisterNodeManagerServer(n.srv, n)
	go n.srv.Serve(lis)
	conn, err := n.pool.Get(cfg.GcsAddress)
	if err != nil {
		n.Stop()
		return nil, err
	}
	n.gcs = rpcpb.NewGcsClient(conn)
	if err := n.register(); err != nil {
		n.Stop()
		return nil, err
	}
	n.wg.Add(3)
	go n.heartbeats()
	go n.reaper()
	go n.watchOwners()
	if threshold, refresh, err := memoryMonitorConfig(os.Getenv); err != nil {
		n.log.Printf("memory monitor off: %v", err)
	} else if refresh > 0 {
		n.wg.Add(1)
		go n.memoryMonitorLoop(threshold, refresh)
	}
	return n, nil
}

// Address is the node manager's gRPC address.
func (n *Node) Address() string { return n.addr }

// ObjectStore is the node's object store (core.LocalNode: a worker in the
// node's process uses it directly).
func (n *Node) ObjectStore() *objectstore.Store { return n.Store }

// ID is the node id the GCS knows this node by.
func (n *Node) ID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id
}

func (n *Node) register() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lastErr error
	for {
		var md metadata.MD
		r, err := n.gcs.RegisterNode(ctx, &rpcpb.NodeInfo{NodeId: n.cfg.NodeID, Address: n.addr, Ip: n.cfg.IP,
			Total: n.total, Labels: n.cfg.Labels, InstanceId: n.cfg.InstanceID, NodeTypeName: n.cfg.NodeTypeName,
			IsHead: n.cfg.IsHead, ObjectStoreCapacity: n.cfg.StoreCapacity, WorkerIds: n.liveWorkers()},
			grpc.WaitForReady(true), grpc.Header(&md))
		if err == nil {
			// Dropped before the id is taken: the heartbeat that noticed a
			// new GCS has done it already, but a head that restarted between
			// that heartbeat and this call is noticed here.
			n.observeCluster(md)
			n.mu.Lock()
			n.id = r.NodeId
			n.cfg.NodeID = r.NodeId
			n.labels = maps.Clone(n.cfg.Labels)
			if n.labels == nil {
				n.labels = map[string]string{}
			}
			n.labels[scheduler.NodeIDLabel] = r.NodeId // as the GCS records it
			n.mu.Unlock()
			n.log.Printf("node %s registered with GCS %s, listening on %s", r.NodeId, n.cfg.GcsAddress, n.addr)
			return nil
		}
		lastErr = err
		if status.Code(err) == codes.Unauthenticated { // a wrong token stays wrong: no retry
			return fmt.Errorf("register with GCS at %s: %w", n.cfg.GcsAddress, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("register with GCS at %s: %w", n.cfg.GcsAddress, lastErr)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// liveWorkers are the ids of the node's worker processes (a worker leaves
// n.workers when its process exits).
func (n *Node) liveWorkers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.workers))
	for id := range n.workers {
		out = append(out, id)
	}
	return out
}

// Stop kills the node's workers and stops serving.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		close(n.stop)
		n.mu.Lock()
		for _, w := range n.workers {
			w.killed = true
			if w.proc != nil {
				w.proc.Kill()
			}
		}
		n.mu.Unlock()
		if n.srv != nil {
			done := make(chan struct{})
			go func() { n.srv.GracefulStop(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				n.srv.Stop()
			}
		}
		n.wg.Wait()
		n.unregister("node stopped")
		n.pool.Close()
		n.Store.Close()
		n.segments.Close()
	})
}

func (n *Node) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

func (n *Node) heartbeats() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		case <-n.kick:
		}
		st := n.Store.Stats()
		n.mu.Lock()
		rep := &rpcpb.NodeReport{NodeId: n.id, Available: n.available.Clone(), ObjectStoreUsed: st.Used, ObjectStoreObjects: st.Objects,
			KnownInfoVersion: n.views.known}
		for _, d := range n.demand {
			if d.Count > 0 {
				// A copy: the report is marshalled after the lock is
				// released, while waiting leases keep counting. The shape
				// is never changed after the demand is made.
				rep.Demand = append(rep.Demand, &rpcpb.ResourceDemand{Shape: d.Shape, Count: d.Count, Infeasible: d.Infeasible,
					LabelSelector: d.LabelSelector})
			}
		}
		if len(n.leases) == 0 && len(rep.Demand) == 0 && len(n.bundles) == 0 {
			rep.IdleMs = time.Since(n.lastBusy).Milliseconds()
		} else {
			n.lastBusy = time.Now()
		}
		n.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var md metadata.MD
		v, err := n.gcs.ReportNode(ctx, rep, grpc.Header(&md))
		cancel()
		// A GCS restarted without storage answers NotFound (it never knew
		// this node): the old incarnation's workers and leases go before
		// this node registers with the new one.
		n.observeCluster(md)
		if status.Code(err) == codes.NotFound {
			n.log.Printf("GCS does not know this node any more (%v); registering again", err)
			if err := n.register(); err != nil {
				n.log.Printf("registering again: %v", err)
			}
			continue
		}
		if err != nil {
			continue
		}
		n.mu.Lock()
		n.view = n.views.merge(v)
		n.notifyLocked()
		n.mu.Unlock()
	}
}

func (n *Node) reaper() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.IdleWorkerTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		n.mu.Lock()
		for _, id := range n.idle.reap(time.Now(), n.cfg.IdleWorkerTimeout) {
			if w := n.workers[id]; w != nil {
				// Out of the pool now (no lease takes it), asked to exit.
				go n.retire(w)
			}
		}
		n.mu.Unlock()
	}
}

// retireTimeout bounds asking an idle worker to exit.
const retireTimeout = 2 * time.Second

// retire asks an idle worker past the idle timeout to exit. One that still
// owns objects other processes borrow, or pending tasks, declines and goes
// back to its pool (asked again after another idle timeout): killing it
// would lose what it owns (Ray's workers decline the same way). One that
// does not answer is killed.
func (n *Node) retire(w *worker) {
	c, err := n.pool.Get(w.addr)
	if err != nil || w.addr == "" {
		n.mu.Lock()
		n.killLocked(w)
		n.mu.Unlock()
		return
	}
	defer n.pool.Drop(w.addr) // asked again, if at all, an idle timeout later
	ctx, cancel := context.WithTimeout(context.Background(), retireTimeout)
	defer cancel()
	n.mu.Lock()
	w.killed = true // its exit is intended (not reported as a failure)
	n.mu.Unlock()
	rep, err := rpcpb.NewCoreWorkerClient(c).Exit(ctx, &rpcpb.ExitRequest{})
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case err != nil:
		n.killLocked(w)
	case rep.Declined:
		if _, alive := n.workers[w.id]; alive && !w.leased {
			w.killed = false
			n.parkIdleLocked(w)
		}
	default:
		// It exits by itself; workerExited cleans up. One that lingers
		// is killed.
		time.AfterFunc(retireTimeout, func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			if _, alive := n.workers[w.id]; alive {
				n.killLocked(w)
			}
		})
	}
}

// snapshotLocked is the cluster view with this node's live availability.
func (n *Node) snapshotLocked() []scheduler.Node {
	out := []scheduler.Node{{ID: n.id, Alive: !n.draining, Total: n.total, Available: n.available, Labels: n.labels}}
	for _, v := range n.view {
		if v.NodeId == n.id {
			continue
		}
		// Draining nodes take no new work.
		out = append(out, scheduler.Node{ID: v.NodeId, Alive: v.Alive && v.Status != "DRAINING", Total: v.Total, Available: v.Available,
			Labels: v.Labels})
	}
	return out
}

func (n *Node) addressOfLocked(id string) string {
	for _, v := range n.view {
		if v.NodeId == id {
			return v.Address
		}
	}
	return ""
}

// GetNodeStats reports the store and worker pool.
func (n *Node) GetNodeStats(ctx context.Context, _ *rpcpb.Empty) (*rpcpb.NodeStats, error) {
	st := n.Store.Stats()
	n.mu.Lock()
	defer n.mu.Unlock()
	idle := n.idle.size()
	return &rpcpb.NodeStats{NodeId: n.id, StoreUsed: st.Used, StoreCapacity: st.Capacity, NumObjects: st.Objects,
		SpilledBytes: st.SpilledBytes, SpilledObjects: st.SpilledObjects, RestoredObjects: st.RestoredObjects,
		NumWorkers: int32(len(n.workers)), IdleWorkers: int32(idle), Available: n.available.Clone(), Total: n.total.Clone(),
		Workers: n.workerStatesLocked()}, nil
}

// ReserveBundles reserves placement-group bundles on this node (all or none).
func (n *Node) ReserveBundles(ctx context.Context, in *rpcpb.ReserveBundlesRequest) (*rpcpb.ReserveBundlesReply, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sum := scheduler.Resources{}
	for _, b := range in.Bundles {
		scheduler.Resources(b.Resources).AddTo(sum)
	}
	if _, ok := n.bundles[in.PlacementGroupId]; ok {
		return &rpcpb.ReserveBundlesReply{Ok: true}, nil
	}
	if !sum.Fits(n.available) {
		return &rpcpb.ReserveBundlesReply{Ok: false, Message: "not enough resources on node"}, nil
	}
	sum.SubFrom(n.available)
	m := map[int32]*bundle{}
	for i, b := range in.Bundles {
		r := scheduler.Resources(b.Resources).Clone()
		m[i] = &bundle{total: r, avail: r.Clone()}
	}
	n.bundles[in.PlacementGroupId] = m
	return &rpcpb.ReserveBundlesReply{Ok: true}, nil
}

// ReleaseBundles returns a placement group's bundles to the node.
func (n *Node) ReleaseBundles(ctx context.Context, in *rpcpb.ReleaseBundlesRequest) (*rpcpb.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if m, ok := n.bundles[in.PlacementGroupId]; ok {
		for _, b := range m {
			b.total.AddTo(n.available)
		}
		delete(n.bundles, in.PlacementGroupId)
		n.notifyLocked()
	}
	return &rpcpb.Empty{}, nil
}

// newLeaseID makes a lease id.
func newLeaseID() string { return ids.Seq() }
