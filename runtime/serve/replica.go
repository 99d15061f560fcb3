package serve

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/internal/workerenv"
	"github.com/goray-dev/goray/runtime/ray"
	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/router"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
)

// The catalog actor tells the head's controller what this binary registered.
type catalogActor struct{}

var catalogClass = ray.Actor(wire.CatalogClass, func(ctx context.Context) (*catalogActor, error) { return &catalogActor{}, nil })

var _ = ray.Method0(catalogClass, "Describe", func(c *catalogActor, ctx context.Context) (wire.Catalog, error) {
	return catalog(), nil
})

// replica is one replica actor: the deployment's handler served to routers
// (package hop's protocol) on the node's IP, and on a unix socket for those
// on the same node, counting its in-flight requests.
type replica struct {
	init     wire.ReplicaInit
	def      *DeploymentDef
	handler  atomic.Pointer[http.Handler]
	srv      *hop.Server
	addr     string
	socket   string // unix socket path, "" if none
	ongoing  atomic.Int64
	total    atomic.Int64
	draining atomic.Bool
	metrics  replicaMetrics
	cfgMu    sync.Mutex // serializes reconfigures
	userCfg  string
}

// current is the replica this worker process hosts (one actor per process).
var current atomic.Pointer[replica]

// ReplicaContext says which replica a handler runs in (Ray's
// serve.get_replica_context()).
type ReplicaContext struct {
	App, Deployment, ReplicaID string
}

// GetReplicaContext is the replica this process hosts; ok is false outside
// a replica.
func GetReplicaContext() (rc ReplicaContext, ok bool) {
	r := current.Load()
	if r == nil {
		return rc, false
	}
	return ReplicaContext{App: r.init.App, Deployment: r.init.Deployment, ReplicaID: r.init.ReplicaID}, true
}

var replicaClass = ray.Actor1(wire.ReplicaClass, func(ctx context.Context, in wire.ReplicaInit) (*replica, error) {
	def, ok := lookupDeployment(in.Deployment)
	if !ok {
		return nil, fmt.Errorf("deployment %q is not registered in this binary", in.Deployment)
	}
	r := &replica{init: in, def: def, userCfg: in.UserConfig}
	current.Store(r)
	h, err := def.build(ctx, in.UserConfig)
	if err != nil {
		return nil, fmt.Errorf("deployment %q: %w", in.Deployment, err)
	}
	r.handler.Store(&h)
	env := workerenv.Current()
	ip := env.NodeIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	sec, err := auth.Process()
	if err != nil {
		return nil, err
	}
	lis, err := rpcutil.Listen(rpcutil.BindHost(ip), 0)
	if err != nil {
		return nil, fmt.Errorf("replica listen: %w", err)
	}
	r.addr = net.JoinHostPort(ip, strconv.Itoa(lis.Addr().(*net.TCPAddr).Port))
	if sec.TLS != nil {
		lis = tls.NewListener(lis, sec.TLS.ServerConfig(true))
	}
	r.srv = &hop.Server{Handler: r, Auth: sec, ErrorLog: log.New(os.Stderr, "serve replica "+in.ReplicaID+": ", log.LstdFlags)}
	go r.srv.Serve(lis)
	if ul, path := rpcutil.ListenUnix(env.SessionDir, "serve-"+in.ReplicaID+".sock"); ul != nil {
		r.socket = path
		go r.srv.Serve(ul) // Shutdown closes it too (and removes the file)
	}
	return r, nil
})

// ServeHTTP runs the current handler; a draining replica turns requests away
// unprocessed so the router retries them on another replica.
func (r *replica) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.ongoing.Add(1)
	defer r.ongoing.Add(-1)
	if r.draining.Load() {
		w.Header().Set(router.RejectHeader, "draining")
		http.Error(w, "replica is draining", http.StatusServiceUnavailable)
		return
	}
	r.total.Add(1)
	sw := &statusWriter{ResponseWriter: w}
	start := time.Now()
	defer func() {
		// A panicking handler is an error to Ray's counters too; the
		// panic goes on to the server, which ends the request.
		status := sw.code()
		if p := recover(); p != nil {
			r.metrics.observe(http.StatusInternalServerError, time.Since(start))
			panic(p)
		}
		r.metrics.observe(status, time.Since(start))
	}()
	(*r.handler.Load()).ServeHTTP(sw, req)
}

var _ = ray.Method0(replicaClass, "Info", func(r *replica, ctx context.Context) (wire.Info, error) {
	env := workerenv.Current()
	return wire.Info{Address: r.addr, Socket: r.socket, PID: os.Getpid(), NodeID: env.NodeID, NodeIP: env.NodeIP,
		WorkerID: env.WorkerID}, nil
})

var _ = ray.Method0(replicaClass, "CheckHealth", func(r *replica, ctx context.Context) (bool, error) {
	if hc, ok := (*r.handler.Load()).(HealthChecker); ok {
		if err := hc.CheckHealth(ctx); err != nil {
			return false, err
		}
	}
	return true, nil
})

var _ = ray.Method(replicaClass, "Reconfigure", func(r *replica, ctx context.Context, userConfig string) (bool, error) {
	r.cfgMu.Lock()
	defer r.cfgMu.Unlock()
	if userConfig == r.userCfg {
		return true, nil
	}
	h := *r.handler.Load()
	ok, err := r.def.reconfigure(ctx, h, userConfig)
	if err != nil {
		return false, fmt.Errorf("reconfigure %s: %w", r.init.Deployment, err)
	}
	if !ok {
		// Rebuild and swap: new requests see the new handler, in-flight ones finish on the old.
		nh, err := r.def.build(ctx, userConfig)
		if err != nil {
			return false, fmt.Errorf("reconfigure %s: %w", r.init.Deployment, err)
		}
		r.handler.Store(&nh)
		if s, ok := h.(Shutdowner); ok {
			go func() {
				for r.ongoing.Load() > 0 {
					time.Sleep(50 * time.Millisecond)
				}
				s.Shutdown(context.Background())
			}()
		}
	}
	r.userCfg = userConfig
	return true, nil
})

var _ = ray.Method(replicaClass, "Drain", func(r *replica, ctx context.Context, d wire.Drain) (int, error) {
	r.draining.Store(true)
	deadline := time.Now().Add(time.Duration(d.TimeoutS * float64(time.Second)))
	// Wait for in-flight requests, then a quiet wait loop in which late
	// requests (from proxies that had not yet seen the new routes) are
	// turned away, then for those again.
	for r.ongoing.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	quiet := time.Now().Add(min(time.Duration(d.WaitLoopS*float64(time.Second)), time.Until(deadline)))
	for time.Now().Before(quiet) || (r.ongoing.Load() > 0 && time.Now().Before(deadline)) {
		time.Sleep(20 * time.Millisecond)
	}
	left := int(r.ongoing.Load())
	if s, ok := (*r.handler.Load()).(Shutdowner); ok {
		sctx, cancel := context.WithDeadline(context.Background(), deadline.Add(time.Second))
		s.Shutdown(sctx)
		cancel()
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := r.srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return left, err
	}
	return left, nil
})

var _ = ray.Method0(replicaClass, "Stats", func(r *replica, ctx context.Context) (wire.Stats, error) {
	n := int(r.ongoing.Load())
	if r.draining.Load() {
		n = 0
	}
	st := wire.Stats{Ongoing: n, Total: r.total.Load(), Models: heldModels()}
	r.metrics.fill(&st)
	return st, nil
})
