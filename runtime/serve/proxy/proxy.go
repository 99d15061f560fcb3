// Package proxy is serve's HTTP proxy, one per node (:8000 by default). It
// follows the routing table the head's serve controller publishes in the GCS,
// routes each request to the application with the longest matching
// route_prefix and forwards it to one of the ingress deployment's replicas
// (see package router for the choice, limits, queueing and retries). It
// answers /-/healthz ("success", 503 while draining) and /-/routes (route
// prefix -> application) like Ray's proxy, and publishes its status for the
// controller's GET /api/serve/applications/.
//
// Bodies stream both ways (see stream.go): a request body larger than
// inlineBody, or of unknown length, reaches the replica as the handler reads
// it; a streamed response reaches the client as the handler flushes it; an
// Upgrade (WebSocket) request that the handler takes over becomes a tunnel.
//
// It applies the serve config's proxy_location (a proxy that is not to
// serve answers everything with 503, /-/healthz included, so that load
// balancers and KubeRay's serve label leave its node out, and drops its
// status entry), http_options.root_path (every route is mounted under it)
// and http_options.request_timeout_s (408, as Ray's proxy answers, or a
// streamed response broken off), as the routing table carries them.
//
// With a GRPCListener it is also Ray's gRPC proxy (grpc_options; see
// grpc.go): gRPC calls routed by the "application" metadata key to the
// application's ingress deployment, which serves them with a
// serve.GRPCServer.
package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/metrics"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/grpcwire"
	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/router"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Config configures a node's proxy.
type Config struct {
	GCS        rpcpb.GcsClient
	NodeID     string
	NodeIP     string
	InstanceID string
	// Head: the proxy runs on the head node (it serves under proxy_location HeadOnly).
	Head bool
	// Listener is where the proxy serves (already bound to the serve port).
	Listener net.Listener
	Logger   *log.Logger
	// PollInterval is how often the routing table is read (default 100ms).
	PollInterval time.Duration
	// Metrics records Ray's ray_serve_*http* series (nil: none).
	Metrics *metrics.Proxy
	// GRPCListener, when set, is where the gRPC proxy serves (already
	// bound to the serve gRPC port; see grpc.go).
	GRPCListener net.Listener
	// GRPCMetrics records Ray's ray_serve_*grpc* series (nil: none).
	GRPCMetrics *metrics.GRPCProxy
	// Auth is the node's credentials: the gRPC proxy requires their token
	// (when one is required) and serves with their TLS.
	Auth auth.Config
}

// Proxy is a running proxy.
type Proxy struct {
	cfg      Config
	srv      *http.Server
	grpcSrv  *grpc.Server // nil without a GRPCListener
	kinds    methodKinds  // of the gRPC methods called
	watcher  *routes.Watcher
	cancel   context.CancelFunc
	draining atomic.Bool
	table    atomic.Pointer[routes.Table]
	mu       sync.Mutex
	routers  map[string]*router.Router // app name -> ingress router
	split    splitter                  // the table's traffic split (split.go)
	splitN   atomic.Uint64             // requests counted for the split
}

// Start serves on cfg.Listener until Close.
func Start(cfg Config) *Proxy {
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{cfg: cfg, cancel: cancel, routers: map[string]*router.Router{}}
	p.table.Store(&routes.Table{})
	p.watcher = routes.NewWatcher(ctx, cfg.GCS, cfg.PollInterval)
	p.watcher.Subscribe(p.update)
	p.srv = &http.Server{Handler: p.handler(), ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute}
	go p.srv.Serve(cfg.Listener)
	if cfg.GRPCListener != nil {
		p.grpcSrv = p.newGRPCServer(cfg.Auth)
		go p.grpcSrv.Serve(netutil.LimitListener(cfg.GRPCListener, rpcutil.MaxConns))
	}
	go p.publish(ctx)
	return p
}

// handler serves Ray's proxy endpoints and forwards the rest.
func (p *Proxy) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/-/healthz", p.healthz)
	mux.HandleFunc("/-/routes", p.routes)
	mux.HandleFunc("/", p.forward)
	return mux
}

// GRPCAddress is where the gRPC proxy listens ("" if it does not).
func (p *Proxy) GRPCAddress() string {
	if p.cfg.GRPCListener == nil {
		return ""
	}
	return p.cfg.GRPCListener.Addr().String()
}

// Address is where the proxy listens.
func (p *Proxy) Address() string { return p.cfg.Listener.Addr().String() }

// Drain makes /-/healthz fail (503) so load balancers stop sending traffic.
func (p *Proxy) Drain() { p.draining.Store(true) }

// Close stops the proxy.
func (p *Proxy) Close() {
	p.draining.Store(true)
	p.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	if p.grpcSrv != nil {
		stopped := make(chan struct{})
		go func() { p.grpcSrv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			p.grpcSrv.Stop()
		}
	}
	_, _ = p.cfg.GCS.KvDel(ctx, &rpcpb.KvRequest{Namespace: routes.Namespace, Key: routes.ProxyPrefix + p.cfg.NodeID})
}

func (p *Proxy) update(t *routes.Table) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := map[string]bool{}
	for _, a := range t.Apps {
		keep[a.Name] = true
		r, ok := p.routers[a.Name]
		if !ok {
			r = router.New(p.cfg.NodeID)
			p.routers[a.Name] = r
		}
		r.Update(a.Deployments[a.Ingress])
	}
	for name := range p.routers {
		if !keep[name] {
			delete(p.routers, name)
		}
	}
	p.table.Store(t)
}

func (p *Proxy) publish(ctx context.Context) {
	for {
		if !p.serves() {
			// Not a proxy of the cluster's serve under its proxy_location.
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, _ = p.cfg.GCS.KvDel(rctx, &rpcpb.KvRequest{Namespace: routes.Namespace, Key: routes.ProxyPrefix + p.cfg.NodeID})
			cancel()
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
			continue
		}
		st := schema.ProxyHealthy
		if p.draining.Load() {
			st = schema.ProxyDraining
		}
		_, port, _ := net.SplitHostPort(p.Address())
		n, _ := strconv.Atoi(port)
		b, _ := json.Marshal(routes.ProxyInfo{NodeID: p.cfg.NodeID, NodeIP: p.cfg.NodeIP, InstanceID: p.cfg.InstanceID, Port: n,
			Status: st, UpdatedMs: time.Now().UnixMilli()})
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = p.cfg.GCS.KvPut(rctx, &rpcpb.KvRequest{Namespace: routes.Namespace, Key: routes.ProxyPrefix + p.cfg.NodeID, Value: b, Overwrite: true})
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// serves reports whether this proxy serves under the current proxy_location.
func (p *Proxy) serves() bool { return routes.Serves(p.table.Load().HTTP.Location, p.cfg.Head) }

// off answers a request to a proxy that does not serve under proxy_location.
func (p *Proxy) off(w http.ResponseWriter) {
	http.Error(w, fmt.Sprintf("This node's serve proxy is off (proxy_location: %s).", p.table.Load().HTTP.Location), http.StatusServiceUnavailable)
}

func (p *Proxy) healthz(w http.ResponseWriter, r *http.Request) {
	if !p.serves() {
		p.off(w)
		return
	}
	if p.draining.Load() {
		http.Error(w, "This node is being drained.", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "success")
}

func (p *Proxy) routes(w http.ResponseWriter, r *http.Request) {
	if !p.serves() {
		p.off(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p.table.Load().RouteMap())
}

// underRoot is path below the root path (as "/..."), and whether path is
// under it at all.
func underRoot(path, root string) (string, bool) {
	switch {
	case root == "":
		return path, true
	case path == root:
		return "/", true
	case strings.HasPrefix(path, root+"/"):
		return path[len(root):], true
	}
	return "", false
}

// mountedPrefix is what X-Forwarded-Prefix says: the root path and the
// application's route prefix ("" when both are the root).
func mountedPrefix(root, routePrefix string) string {
	if routePrefix == "/" {
		return root
	}
	return root + routePrefix
}

var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		dst[k] = vv
	}
	for _, h := range hopHeaders {
		delete(dst, h)
	}
	// Only the gRPC proxy, which checks the cluster's token, sends calls.
	delete(dst, grpcwire.CallHeader)
}

// maxWait bounds how long a request waits for a replica with room.
const maxWait = 60 * time.Second

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// inlineBody is the largest request body (of known length) the proxy reads
// whole before sending it: it goes in the request's frame, and a retry on
// another replica can send it again. Larger bodies, and those of unknown
// length, stream.
const inlineBody = 64 << 10

func (p *Proxy) forward(w http.ResponseWriter, in *http.Request) {
	start := p.cfg.Metrics.Start()
	t := p.table.Load()
	if !routes.Serves(t.HTTP.Location, p.cfg.Head) {
		p.off(w)
		p.cfg.Metrics.Record(start, "", "", "", in.Method, http.StatusServiceUnavailable)
		return
	}
	if t.Split.Percent > 0 && in.Header.Get(routes.SplitHeader) == "" && t.Split.Forward(p.splitN.Add(1)-1) {
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		local := false
		p.split.serve(sw, in, t.Split, func(w http.ResponseWriter, in *http.Request) { local = true; p.serveLocal(w, in, t, start) })
		if !local {
			p.cfg.Metrics.Record(start, "", "", "", in.Method, sw.code)
		}
		return
	}
	p.serveLocal(w, in, t, start)
}

// serveLocal routes a request to this cluster's replicas under table t.
func (p *Proxy) serveLocal(w http.ResponseWriter, in *http.Request, t *routes.Table, start time.Time) {
	path, mounted := underRoot(in.URL.Path, t.HTTP.RootPath)
	var app *routes.App
	var rest string
	if mounted {
		app, rest = t.Match(path)
	}
	if app == nil {
		http.Error(w, fmt.Sprintf("Path '%s' not found. Ping http://.../-/routes for available routes.", in.URL.Path), http.StatusNotFound)
		p.cfg.Metrics.Record(start, "", "", "", in.Method, http.StatusNotFound)
		return
	}
	code := http.StatusOK
	defer func() { p.cfg.Metrics.Record(start, app.Name, app.RoutePrefix, app.Ingress, in.Method, code) }()
	p.mu.Lock()
	rt := p.routers[app.Name]
	p.mu.Unlock()
	if rt == nil {
		code = http.StatusServiceUnavailable
		http.Error(w, "application "+app.Name+" is not routable", code)
		return
	}
	var timeout time.Duration
	if t.HTTP.RequestTimeoutS > 0 && !isUpgrade(in) { // a WebSocket lives as long as its ends want
		timeout = time.Duration(t.HTTP.RequestTimeoutS * float64(time.Second))
		ctx, cancel := context.WithTimeout(in.Context(), timeout)
		defer cancel()
		in = in.WithContext(ctx)
	}
	var body []byte
	var stream io.ReadCloser
	var up *upgrade
	switch {
	case isUpgrade(in):
		// The client's bytes after the upgrade reach the handler as the
		// request's body, once the handler took the stream over.
		up = newUpgrade(in.Context())
		defer up.close()
		in = in.WithContext(up.ctx)
		stream = up.body
	case in.ContentLength > 0 && in.ContentLength <= inlineBody:
		b := make([]byte, in.ContentLength)
		if _, err := io.ReadFull(in.Body, b); err != nil {
			code = http.StatusBadRequest
			http.Error(w, "read request body: "+err.Error(), code)
			return
		}
		body = b
	case in.ContentLength != 0 && in.Body != nil && in.Body != http.NoBody:
		stream = in.Body
	}
	hdr := make(http.Header, len(in.Header)+2)
	copyHeader(hdr, in.Header)
	if up != nil {
		hdr["Connection"], hdr["Upgrade"] = []string{"Upgrade"}, in.Header["Upgrade"]
	}
	if host, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if prior := in.Header.Get("X-Forwarded-For"); prior != "" {
			host = prior + ", " + host
		}
		hdr.Set("X-Forwarded-For", host)
	}
	if prefix := mountedPrefix(t.HTTP.RootPath, app.RoutePrefix); prefix != "" {
		hdr.Set("X-Forwarded-Prefix", prefix)
	}
	ctx := in.Context()
	resp, done, err := rt.Send(ctx, maxWait, in.Header.Get(router.ModelIDHeader), func(addr string) (*http.Request, error) {
		out := &http.Request{Method: in.Method, URL: &url.URL{Scheme: "http", Host: addr, Path: rest, RawQuery: in.URL.RawQuery},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: hdr, Host: in.Host}
		switch {
		case body != nil:
			out.Body, out.ContentLength = hop.NewBody(body), int64(len(body))
		case stream != nil:
			// The same body for every attempt: one that failed before
			// the handler read any of it left it untouched.
			out.Body, out.ContentLength = stream, in.ContentLength
		}
		return out, nil
	})
	if err != nil {
		code = http.StatusServiceUnavailable
		switch {
		case errors.Is(err, router.ErrShed):
			http.Error(w, err.Error(), code)
		case timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded):
			code = http.StatusRequestTimeout
			http.Error(w, fmt.Sprintf("Request timed out after %gs.", timeout.Seconds()), code)
		case ctx.Err() != nil:
			// The client went away: counted as nginx's 499 "client
			// closed request", not as an error the service answered.
			code = 499
		case errors.Is(err, hop.ErrBodySent):
			code = http.StatusBadGateway
			http.Error(w, err.Error(), code)
		default:
			http.Error(w, err.Error(), code)
		}
		return
	}
	defer done()
	defer resp.Body.Close()
	code = resp.StatusCode
	if ok, headed := hop.Tunnel(resp); ok {
		if up == nil {
			// Taken over without an Upgrade request: nothing to relay
			// the client's side with.
			code = http.StatusBadGateway
			http.Error(w, "the deployment took over a request that asked for no protocol upgrade", code)
			return
		}
		up.relay(w, resp, headed, p.cfg.Logger)
		return
	}
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	if resp.ContentLength < 0 {
		relayStream(w, resp.Body)
		return
	}
	bp := bufPool.Get().(*[]byte)
	_, _ = io.CopyBuffer(w, resp.Body, *bp)
	bufPool.Put(bp)
}
