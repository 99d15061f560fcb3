// Package ray is goray's Go SDK: Ray Core's model for Go programs. Register
// tasks and actors at package level, call Init first thing in main, and
// submit work with typed references:
//
//	var Square = ray.Task("square", func(ctx context.Context, x int) (int, error) { return x * x, nil })
//
//	func main() {
//		ctx := context.Background()
//		if err := ray.Init(ctx); err != nil { log.Fatal(err) }
//		defer ray.Shutdown()
//		var refs []ray.Ref[int]
//		for i := 0; i < 4; i++ { refs = append(refs, Square.Remote(ctx, i)) }
//		out, err := ray.GetAll(ctx, refs...) // [0 1 4 9]
//	}
//
// The same executable runs as the driver and, started by node managers with
// GORAY_WORKER=1, as worker processes: in a worker, Init serves tasks and
// never returns, so code before Init runs in workers too.
//
// Tasks may submit tasks and wait for them (Get, Wait, a generator's Next):
// as in Ray, a task that waits for objects more than a moment lends its
// CPUs to other work until it goes on, so recursion and fan-out-and-gather
// do not need more CPUs than the cluster has (a node may be over its CPUs
// for a while when the waiters go on). Actors keep theirs; GPUs and other
// resources stay with the task. Where calls run (resources, SPREAD, node
// affinity, label selectors): docs/scheduling.md.
package ray

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/cluster"
	"github.com/goray-dev/goray/runtime/core"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/internal/workerenv"
	"github.com/goray-dev/goray/runtime/node"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

var (
	mu      sync.Mutex
	current *core.Worker
	// local is the embedded local cluster (nil when connected by address).
	local *cluster.Cluster
)

type initConfig struct {
	address   string
	namespace string
	numCPUs   float64
	resources map[string]float64
	storeCap  int64
	logger    *log.Logger
	// dashboardPort and servePort are the embedded cluster's (see
	// WithDashboardPort, WithServePort); dashboard says it was asked for.
	dashboardPort, servePort int
	dashboard, serve         bool
}

// InitOption configures Init.
type InitOption func(*initConfig)

// WithAddress connects to a running cluster's GCS (host:port), like GORAY_ADDRESS.
func WithAddress(addr string) InitOption { return func(c *initConfig) { c.address = addr } }

// WithNamespace sets the namespace of named actors.
func WithNamespace(ns string) InitOption { return func(c *initConfig) { c.namespace = ns } }

// WithNumCPUs sets the CPUs of an embedded local cluster (default: the machine's).
func WithNumCPUs(n float64) InitOption { return func(c *initConfig) { c.numCPUs = n } }

// WithLocalResources adds resources (GPU, custom) to an embedded local cluster.
func WithLocalResources(r map[string]float64) InitOption {
	return func(c *initConfig) { c.resources = r }
}

// WithObjectStoreMemory sets an embedded cluster's object store capacity in bytes.
func WithObjectStoreMemory(n int64) InitOption { return func(c *initConfig) { c.storeCap = n } }

// WithLogger sets where an embedded cluster logs.
func WithLogger(l *log.Logger) InitOption { return func(c *initConfig) { c.logger = l } }

// WithDashboardPort runs an embedded cluster's dashboard on 127.0.0.1:port
// (0: a free port; DashboardAddress says which): its HTTP API (jobs, state,
// logs, serve), as on a head that `goray start --head` runs, behind the same
// token, and its serve controller. A negative port runs none. Without this
// option the dashboard runs, on a free port, only when token authentication
// is on (RAY_AUTH_MODE=token or a token given, see docs/security.md): its
// job API runs shell commands, so an embedded cluster does not open it to
// every local user unasked.
func WithDashboardPort(port int) InitOption {
	return func(c *initConfig) { c.dashboardPort, c.dashboard = port, true }
}

// WithServePort starts an embedded cluster's serve HTTP proxy on
// 127.0.0.1:port (0: a free port; ServeAddress says which). Without it the
// embedded cluster runs no proxy: its serve controller deploys
// applications (the dashboard's serve API) and handles reach them, as Ray
// starts its proxy only when serve is used.
func WithServePort(port int) InitOption {
	return func(c *initConfig) { c.servePort, c.serve = port, true }
}

// IsWorker reports whether this process was started by a node manager as a worker.
func IsWorker() bool { return workerenv.IsWorker() }

// Init connects this program to a cluster: the one at WithAddress or
// GORAY_ADDRESS, else an embedded local cluster started in-process. In a
// worker process it serves tasks and never returns.
func Init(ctx context.Context, opts ...InitOption) error {
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		return errors.New("ray.Init called twice")
	}
	sec, err := auth.Process()
	if err != nil {
		return fmt.Errorf("goray auth: %w", err)
	}
	if IsWorker() {
		env := workerenv.Current()
		w, err := core.Start(core.Config{Security: sec, GcsAddress: env.GcsAddress, NodeAddress: env.NodeAddress,
			IP: env.NodeIP, WorkerID: env.WorkerID, JobID: env.JobID, NodeID: env.NodeID,
			SessionDir: env.SessionDir, ObjectDir: env.ObjectDir, KeepGOMAXPROCS: os.Getenv("GOMAXPROCS") != "",
			BinaryHash: env.BinaryHash, ClusterID: env.ClusterID})
		if err != nil {
			fmt.Fprintln(os.Stderr, "goray worker:", err)
			os.Exit(1) //nolint:gocritic // exitAfterDefer: nothing to unlock for when the worker exits
		}
		current = w
		mu.Unlock()
		w.Serve()
	}
	cfg := &initConfig{address: os.Getenv(workerenv.Address), namespace: os.Getenv(workerenv.Namespace)}
	for _, o := range opts {
		o(cfg)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program's executable (workers run it): %w", err)
	}
	var wc core.Config
	if cfg.address == "" {
		res := map[string]float64{"CPU": float64(runtime.NumCPU()), "memory": 1 << 30}
		if cfg.numCPUs > 0 {
			res["CPU"] = cfg.numCPUs
		}
		for k, v := range cfg.resources {
			res[k] = v
		}
		logger := cfg.logger
		if logger == nil {
			logger = log.New(io.Discard, "", 0)
			if os.Getenv("GORAY_LOG") != "" {
				logger = log.New(os.Stderr, "[goray] ", log.LstdFlags)
			}
		}
		c, err := cluster.Start(ctx, embeddedConfig(cfg, res, logger, sec, exe))
		if err != nil {
			return fmt.Errorf("start embedded cluster: %w", err)
		}
		local = c
		wc = core.Config{GcsAddress: c.GcsAddress(), NodeAddress: c.NodeAddress(), LocalNode: c.Node, Namespace: cfg.namespace, Security: sec}
	} else {
		nodeAddr, ip, err := pickNode(ctx, cfg.address, sec)
		if err != nil {
			return err
		}
		// A driver of a remote cluster exits when the cluster is gone (its
		// head restarted without storage, or stayed unreachable).
		wc = core.Config{GcsAddress: cfg.address, NodeAddress: nodeAddr, IP: ip, Namespace: cfg.namespace, Security: sec,
			ExitWhenGCSLost: true}
	}
	w, err := core.Start(wc)
	if err != nil {
		if local != nil {
			local.Stop()
			local = nil
		}
		return err
	}
	if err := w.RegisterJob(ctx, exe); err != nil {
		w.Shutdown()
		if local != nil {
			local.Stop()
			local = nil
		}
		return err
	}
	current = w
	return nil
}

// embeddedConfig is the embedded local cluster: a head on 127.0.0.1 as
// `goray start --head` runs it, with its dashboard (and the job, state, log
// and serve APIs) and node agent on free ports, no metrics exporter and,
// unless asked for, no serve proxy. Its serve applications default to this
// program's own executable, which registers them ($GORAY_SERVE_BINARY
// when set, as on a head).
func embeddedConfig(cfg *initConfig, res map[string]float64, logger *log.Logger, sec auth.Config, exe string) cluster.Config {
	if os.Getenv("GORAY_SERVE_BINARY") != "" {
		exe = "" // the controller's default
	}
	c := cluster.Config{Head: true, Security: sec, ServeBinary: exe,
		Node:          node.Config{Resources: res, StoreCapacity: cfg.storeCap, Logger: logger, IdleWorkerTimeout: 30 * time.Second},
		DashboardHost: "127.0.0.1", DashboardPort: cluster.AnyPort, AgentPort: cluster.AnyPort}
	switch {
	case !cfg.dashboard && !sec.Required, cfg.dashboard && cfg.dashboardPort < 0:
		c.DashboardPort, c.AgentPort = 0, 0
	case cfg.dashboardPort > 0:
		c.DashboardPort = cfg.dashboardPort
	}
	if cfg.serve {
		c.ServePort = cfg.servePort
		if c.ServePort <= 0 {
			c.ServePort = cluster.AnyPort
		}
	}
	return c
}

// pickNode chooses the node manager a driver outside the cluster attaches to
// (one on this machine's IP if any, else the head, else any live node) and
// this driver's IP.
func pickNode(ctx context.Context, gcsAddr string, sec auth.Config) (string, string, error) {
	ip := "127.0.0.1"
	if c, err := net.Dial("udp", gcsAddr); err == nil {
		ip = c.LocalAddr().(*net.UDPAddr).IP.String()
		_ = c.Close()
	}
	conn, err := rpcutil.Dial(gcsAddr, sec)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, pickNodeWait)
	defer cancel()
	for {
		v, err := rpcpb.NewGcsClient(conn).GetNodes(cctx, &rpcpb.GetNodesRequest{}, grpc.WaitForReady(true))
		if err != nil {
			return "", "", fmt.Errorf("connect to the cluster's GCS at %s: %w", gcsAddr, err)
		}
		// The same choice the driver makes again if this node dies (see
		// core.ChooseNode): a driver is not tied to the node it started on.
		if n := core.ChooseNode(v.Nodes, ip, nil); n != nil {
			return n.Address, ip, nil
		}
		// A head just started answers before its own node registered
		// (`goray start --head` then a driver at once): wait for one, as
		// Ray's driver waits for its raylet.
		select {
		case <-cctx.Done():
			return "", "", fmt.Errorf("the cluster at %s has no live node (waited %s)", gcsAddr, pickNodeWait)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pickNodeWait bounds a driver's wait for the cluster's first live node.
const pickNodeWait = 30 * time.Second

// Shutdown disconnects (ending the job and its non-detached actors) and stops
// an embedded cluster.
func Shutdown() {
	mu.Lock()
	defer mu.Unlock()
	if current != nil {
		current.Shutdown()
		current = nil
	}
	if local != nil {
		local.Stop()
		local = nil
	}
}

func worker() (*core.Worker, error) {
	mu.Lock()
	defer mu.Unlock()
	if current == nil {
		return nil, errors.New("goray is not initialized: call ray.Init first")
	}
	return current, nil
}

// NodeID is the id of the node this process runs on ("" before Init).
func NodeID() string {
	w, err := worker()
	if err != nil {
		return ""
	}
	return w.NodeID()
}

// GetGPUIDs are the GPU devices the running task or actor holds (Ray's
// ray.get_gpu_ids): ids as CUDA_VISIBLE_DEVICES names them, which goray
// sets for the worker — the node's own CUDA_VISIBLE_DEVICES entries when
// it was started with them, else 0 to the node's GPUs - 1. Nil in a driver
// or when the call holds no GPU.
func GetGPUIDs() []string {
	w, err := worker()
	if err != nil {
		return nil
	}
	return w.GPUIDs()
}

// JobID is the id of the job this process belongs to ("" before Init), as
// Ray's get_runtime_context().get_job_id().
func JobID() string {
	w, err := worker()
	if err != nil {
		return ""
	}
	return w.JobID()
}

// GCSAddress is the address of the connected cluster's GCS.
func GCSAddress() string {
	w, err := worker()
	if err != nil {
		return ""
	}
	_ = w
	if local != nil {
		return local.GcsAddress()
	}
	return os.Getenv(workerenv.Address)
}

// DashboardAddress is the HOST:PORT of the embedded local cluster's
// dashboard (Ray's dashboard_url): the job API (/api/jobs/), the state API
// (/api/v0/...), the log and serve APIs, over HTTPS when the cluster runs
// with TLS and with the cluster's token. "" when connected to a cluster by
// address (its dashboard is on its head, :8265 by default), before Init,
// or with WithDashboardPort(-1).
func DashboardAddress() string {
	mu.Lock()
	defer mu.Unlock()
	if local == nil {
		return ""
	}
	return local.DashboardAddress()
}

// ServeAddress is the HOST:PORT of the embedded local cluster's serve HTTP
// proxy ("" unless WithServePort started it).
func ServeAddress() string {
	mu.Lock()
	defer mu.Unlock()
	if local == nil {
		return ""
	}
	return local.ServeAddress()
}

// Nodes lists the cluster's nodes.
func Nodes(ctx context.Context) ([]*rpcpb.NodeView, error) {
	w, err := worker()
	if err != nil {
		return nil, err
	}
	v, err := w.GCS().GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return nil, err
	}
	return v.Nodes, nil
}
