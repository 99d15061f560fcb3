// Package core is the core worker that every driver and worker process runs:
// the owner side (submitting tasks over leased workers with batched streams,
// resolving arguments, holding results and reference counts, retries and
// lineage reconstruction, actor calls) and the executor side (running
// registered functions and actor methods pushed by owners). The public,
// typed API on top of it is package ray.
//
// The owner's rules about leases are pure state machines, events in and
// actions out with the clock passed in: leaseAsk (one lease request's
// course: spillbacks, rejections, backoff) and leaseBook (a queue's leased
// workers: dispatch and pipelining, when to ask for another lease, broken
// streams, dead nodes, idle returns, cancellation). The Worker only makes
// the calls, sends and timers they ask for. They are written so because
// their cases are interleavings — a stream breaking after an idle return,
// a node dying with tasks in flight, a cancel racing a retry — that
// end-to-end tests meet only by chance; as scenario files
// (testdata/leaseask.txt, testdata/leasebook.txt) each is replayed
// deterministically.
package core

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goray-dev/goray/runtime/internal/exehash"

	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/internal/workerenv"
	"github.com/goray-dev/goray/runtime/objectstore"
	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/taskevents"
)

// InlineThreshold is the size up to which results and puts stay in the owner's memory;
// bigger ones go to a node's object store (Ray's max_direct_call_object_size).
const InlineThreshold = 100 << 10

// LocalNode is a node manager running in this process (ray.Init's embedded
// cluster): the worker reads and writes its object store directly, not over
// gRPC. runtime/node's Node is one; core does not depend on the node's
// package, only on the store's.
type LocalNode interface {
	ID() string
	Address() string
	ObjectStore() *objectstore.Store
}

// Config tells a core worker where the cluster is.
type Config struct {
	GcsAddress  string
	NodeAddress string
	// LocalNode is set when the node manager runs in this process (embedded
	// cluster, head driver); objects are then read and written directly.
	LocalNode LocalNode
	// IP is the address other processes reach this one at.
	IP        string
	Namespace string
	// WorkerID, JobID and NodeID (the node that started the worker) are
	// set in worker mode.
	WorkerID string
	JobID    string
	NodeID   string
	// SessionDir is the node's session directory (worker mode): the worker
	// also serves on a unix socket there, for owners on the same machine.
	SessionDir string
	// ObjectDir (worker mode) is the node's local transfer directory:
	// objects between this worker and its node go through files there
	// (objectstore/transfer.go); "" sends them over gRPC.
	ObjectDir string
	// KeepGOMAXPROCS leaves the worker's GOMAXPROCS as the environment set
	// it instead of sizing it to each lease's CPUs (see procs.go).
	KeepGOMAXPROCS bool
	Logger         *log.Logger
	// LeaseIdle is how long an idle leased worker is kept for more tasks of the same shape.
	LeaseIdle time.Duration
	// Security is what this process's server requires and its calls carry.
	Security auth.Config
	// BinaryHash (worker mode) is the hash of the job's executable, sent
	// with lease requests (a driver learns it in RegisterJob); ClusterID
	// (worker mode) is the GCS cluster its node started it in. See
	// incarnation.go.
	BinaryHash string
	ClusterID  string
	// ExitWhenGCSLost makes a driver exit (status 1, the reason on stderr)
	// when its cluster is gone: the head restarted without fault-tolerant
	// storage, or the GCS did not answer for
	// RAY_gcs_rpc_server_reconnect_timeout_s.
	ExitWhenGCSLost bool
}

// Worker is a core worker.
type Worker struct {
	rpcpb.UnimplementedCoreWorkerServer
	// releaseFn is release, the cleanup of every handle this process owns.
	releaseFn func(id string)
	cfg       Config
	log       *log.Logger
	pool      *rpcutil.Pool
	gcs       rpcpb.GcsClient
	// gcsRaw fails at once while the GCS is down (gcs waits and retries).
	gcsRaw rpcpb.GcsClient
	// att is the node manager leases are asked of (see attach.go).
	att    nodeAttach
	warn   *logLimiter
	local  LocalNode
	addr   string
	nodeID string
	// envVars are the runtime_env variables this worker was started with:
	// what it submits inherits them (TaskOptions.EnvVars).
	envVars map[string]string
	// seg is this worker's transfer segment (objects.go), made once.
	segOnce sync.Once
	seg     *objectstore.Segment
	jobID   string
	srv     *grpc.Server
	isWork  bool
	// defaultProcs is GOMAXPROCS at start, before any lease sized it.
	defaultProcs int
	// closing: Shutdown started; no new lease requests. leaseReqs counts
	// the running ones (Shutdown waits for them to return what they got).
	closing   bool
	leaseReqs sync.WaitGroup

	mu    sync.Mutex
	table *ownership.Table
	// bor is what this process borrows (borrow.go).
	bor     borrowState
	queues  map[string]*schedQueue
	pending map[string]*pendingTask // submitted, not finished, by task id
	// recovering are the tasks run again after a failure (retries after
	// their worker or node died, lineage reconstructions) until they
	// finish: meanwhile no generator stream pauses; yielding are the
	// streams told so (see startRecoveryLocked).
	recovering map[string]bool
	yielding   map[*genState]bool
	actorsC    map[string]*actorSubmitter
	// direct is set while a submitter dispatches: batches for idle streams
	// are left in directLWs for it to send after unlocking.
	direct    bool
	directLWs []*leasedWorker
	// leaseActs is the lease books' reused action buffer (leaseBuf).
	leaseActs []leaseAct

	// executor side
	execMu  sync.Mutex
	running map[string]runningTask
	actor   any
	actorID string
	// groups are the actor's concurrency groups (groups.go).
	groups *actorGroups
	// lite are the lightweight actors this worker hosts (lite.go);
	// liteHost is set once it hosts one (it then hosts no process actor).
	lite     map[string]*liteInstance
	liteHost atomic.Bool
	// gpuIDs are the GPU devices of the lease it runs under (procs.go).
	gpuIDs atomic.Pointer[[]string]
	// hostsActor: this worker runs an actor (its waits lend no CPUs);
	// blocks tells the node of a normal task's waits (blocked.go; nil
	// outside a worker process).
	hostsActor atomic.Bool
	blocks     *blockNotifier
	baseCtx    context.Context
	stopAll    context.CancelFunc

	// cluster follows the GCS's cluster id; binaryHash is the job's
	// executable hash (see incarnation.go).
	cluster    *clusterWatch
	binaryHash string

	// events buffers the task events this process reports (nil: off);
	// eventsDone closes once the reporter sent its last batch.
	events     *taskevents.Buffer
	eventsDone chan struct{}
	// unwritten are the owned tasks with transitions noted but not yet in
	// the buffer (under mu; events.go): written at the next report.
	unwritten []*pendingTask
	// where is this process as executor (task events); infos the shared
	// task descriptions (events.go).
	where    *rpcpb.TaskWhere
	infoMu   sync.Mutex
	infos    map[infoKey]*rpcpb.TaskInfo
	lastInfo atomic.Pointer[infoEntry]
}

// Start connects a core worker: it serves the CoreWorker service and, in
// worker mode, registers with its node manager.
func Start(cfg Config) (*Worker, error) {
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr, "[goray] ", log.LstdFlags)
	}
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.LeaseIdle == 0 {
		cfg.LeaseIdle = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Worker{cfg: cfg, log: cfg.Logger, pool: rpcutil.NewPool(cfg.Security), local: cfg.LocalNode, jobID: cfg.JobID,
		isWork: cfg.WorkerID != "", table: ownership.New(), bor: newBorrowState(), queues: map[string]*schedQueue{},
		pending: map[string]*pendingTask{}, actorsC: map[string]*actorSubmitter{}, running: map[string]runningTask{},
		baseCtx: ctx, stopAll: cancel, defaultProcs: runtime.GOMAXPROCS(0), warn: newLogLimiter(10 * time.Second),
		binaryHash: cfg.BinaryHash}
	w.releaseFn = w.release
	if w.isWork {
		w.blocks = newBlockNotifier(w.tellBlocked)
	}
	conn, err := w.pool.Get(cfg.GcsAddress)
	if err != nil {
		return nil, err
	}
	w.cluster = w.newClusterWatchFor(cfg)
	gc := w.cluster.wrap(conn)
	w.gcsRaw = rpcpb.NewGcsClient(gc)
	w.gcs = rpcpb.NewGcsClient(newGCSConn(gc))
	nc, err := w.pool.Get(cfg.NodeAddress)
	if err != nil {
		return nil, err
	}
	lis, err := rpcutil.Listen(rpcutil.BindHost(cfg.IP), 0)
	if err != nil {
		return nil, fmt.Errorf("core worker listen: %w", err)
	}
	w.addr = net.JoinHostPort(cfg.IP, strconv.Itoa(lis.Addr().(*net.TCPAddr).Port))
	// Known before serving: a task can arrive the moment the node has the
	// worker's registration, and its result names this node.
	w.nodeID = cfg.NodeID
	w.envVars = workerenv.InheritedEnvVars(os.Getenv)
	if w.local != nil {
		w.nodeID = w.local.ID()
	}
	w.att.set(&attachment{addr: cfg.NodeAddress, id: w.nodeID, client: rpcpb.NewNodeManagerClient(nc)})
	w.where = &rpcpb.TaskWhere{NodeId: w.nodeID, WorkerId: cfg.WorkerID, WorkerPid: int32(os.Getpid())}
	w.srv = grpc.NewServer(rpcutil.ServerOptions(cfg.Security)...)
	rpcpb.RegisterCoreWorkerServer(w.srv, w)
	go w.srv.Serve(lis)
	var socket string
	if w.isWork {
		var ul net.Listener
		if ul, socket = rpcutil.ListenUnix(cfg.SessionDir, "worker-"+cfg.WorkerID+".sock"); ul != nil {
			go w.srv.Serve(ul) // Stop closes it (and removes the file)
		}
	}
	go w.watchNodes(ctx)
	go w.watchBorrowers(ctx)
	go w.collectBorrows(ctx)
	w.startEvents(ctx)
	if !w.isWork {
		go w.watchCluster(ctx, gc)
	}
	if w.local != nil {
		w.local.ObjectStore().SetReclaimer(w.reclaim)
	}
	if w.isWork {
		rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer rcancel()
		r, err := w.nodeClient().RegisterWorker(rctx, &rpcpb.RegisterWorkerRequest{WorkerId: cfg.WorkerID, Address: w.addr, Pid: int32(os.Getpid()), Socket: socket})
		if err != nil {
			w.srv.Stop()
			return nil, fmt.Errorf("register worker with node manager %s: %w", cfg.NodeAddress, err)
		}
		if r.NodeId != w.nodeID {
			w.srv.Stop()
			return nil, fmt.Errorf("node manager %s is node %q, but this worker was started for node %q (GORAY_NODE_ID)", cfg.NodeAddress, r.NodeId, w.nodeID)
		}
	}
	return w, nil
}

// Address is this process's CoreWorker address (the owner address of its objects).
func (w *Worker) Address() string { return w.addr }

// JobID is the job this process belongs to.
func (w *Worker) JobID() string { return w.jobID }

// GCS returns a client of the cluster's GCS.
func (w *Worker) GCS() rpcpb.GcsClient { return w.gcs }

// NodeID is the id of the node this process is attached to.
func (w *Worker) NodeID() string { return w.att.get().id }

// Namespace is the namespace used for named actors.
func (w *Worker) Namespace() string { return w.cfg.Namespace }

// RegisterJob registers the driver's job with its executable (uploaded to the
// GCS unless already there), so nodes can start workers from it.
func (w *Worker) RegisterJob(ctx context.Context, exe string) error {
	return w.registerJob(ctx, exe, "")
}

// RejoinJob makes this process the driver of job jobID again (a serve
// controller restarted with its head takes over the job its replicas run
// in): the job keeps its id, record and the nodes' workers. It fails when
// the GCS has no such job, the job finished, or it runs another executable.
func (w *Worker) RejoinJob(ctx context.Context, exe, jobID string) error {
	if jobID == "" {
		return errors.New("rejoin a job: no job id")
	}
	return w.registerJob(ctx, exe, jobID)
}

func (w *Worker) registerJob(ctx context.Context, exe, jobID string) error {
	hash, err := exehash.File(exe)
	if err != nil {
		return fmt.Errorf("hash executable %s: %w", exe, err)
	}
	has, err := w.gcs.HasBinary(ctx, &rpcpb.BinaryRef{Hash: hash}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("contact GCS at %s: %w", w.cfg.GcsAddress, err)
	}
	if !has.Present {
		if err := w.upload(ctx, exe, hash); err != nil {
			return err
		}
	}
	j, err := w.gcs.AddJob(ctx, &rpcpb.JobInfo{JobId: jobID, BinaryHash: hash, BinaryPath: exe, DriverAddress: w.addr, Namespace: w.cfg.Namespace})
	if err != nil {
		return fmt.Errorf("register job: %w", err)
	}
	w.jobID, w.binaryHash = j.JobId, hash
	if w.nodeID == "" {
		v, err := w.gcs.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		if err == nil {
			w.att.sawNodes(v.Nodes)
			for _, n := range v.Nodes {
				if n.Address == w.cfg.NodeAddress {
					w.nodeID = n.NodeId
				}
			}
			w.att.set(&attachment{addr: w.cfg.NodeAddress, id: w.nodeID, client: w.nodeClient()})
		}
	}
	return nil
}

func (w *Worker) upload(ctx context.Context, exe, hash string) error {
	data, err := os.ReadFile(exe)
	if err != nil {
		return err
	}
	st, err := w.gcs.UploadBinary(ctx)
	if err != nil {
		return fmt.Errorf("upload executable: %w", err)
	}
	for off := 0; off < len(data); off += rpcutil.ChunkSize {
		end := min(off+rpcutil.ChunkSize, len(data))
		if err := st.Send(&rpcpb.Chunk{Id: hash, TotalSize: int64(len(data)), Offset: int64(off), Data: data[off:end]}); err != nil {
			break
		}
	}
	if _, err := st.CloseAndRecv(); err != nil {
		return fmt.Errorf("upload executable: %w", err)
	}
	return nil
}

// Shutdown ends the job (killing its non-detached actors) and stops serving.
func (w *Worker) Shutdown() {
	// The last transitions first: the GCS ends the job's unfinished
	// attempts some time after the job is marked finished.
	w.flushEvents()
	if !w.isWork && w.jobID != "" {
		// Bounded, but long enough to outlast a head restart: the job
		// record survives it and should say the job ended.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = w.gcs.MarkJobFinished(ctx, &rpcpb.JobInfo{JobId: w.jobID})
		cancel()
	}
	// Return every held lease and wait for the replies before the
	// connections close: a ReturnWorker still in flight when the pool closes
	// (or the process exits) is lost, and the node would hold the lease's
	// resources forever.
	w.mu.Lock()
	w.closing = true
	for _, q := range w.queues {
		w.runLocked(q, q.close(w.leaseBuf()), nil, nil) // no more leases for this driver
	}
	w.mu.Unlock()
	w.returnHeldLeases()
	// Cancelled lease requests return what the nodes granted meanwhile, and
	// grants that were attached meanwhile are returned here.
	waitTimeout(&w.leaseReqs, 5*time.Second)
	w.returnHeldLeases()
	w.dropBorrows()      // borrow.go
	w.freeOwnedObjects() // see lifetime.go
	w.stopAll()
	if w.eventsDone != nil {
		<-w.eventsDone // its last batch, bounded by a second
	}
	w.srv.Stop()
	w.pool.Close()
}

// returnHeldLeases returns every lease the worker holds and waits (bounded)
// for the nodes' replies.
func (w *Worker) returnHeldLeases() {
	var wg sync.WaitGroup
	w.mu.Lock()
	for _, q := range w.queues {
		for _, lw := range slices.Clone(q.workers) { // returning removes it from q.workers
			wg.Add(1)
			w.returnLeaseLocked(lw, &wg)
		}
	}
	w.mu.Unlock()
	waitTimeout(&wg, 5*time.Second)
}

// Serve blocks forever (worker mode: the process lives until its node kills it).
func (w *Worker) Serve() {
	select {}
}

// Ping answers a bare round trip.
func (w *Worker) Ping(ctx context.Context, in *rpcpb.PingRequest) (*rpcpb.PingRequest, error) {
	return in, nil
}
