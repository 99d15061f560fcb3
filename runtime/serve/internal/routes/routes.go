// Package routes is the routing table the serve controller publishes in the
// GCS KV store and every proxy (and every replica's deployment handles)
// follows: applications with their route prefix and ingress deployment, and
// each deployment's live replicas with their HTTP addresses and limits.
package routes

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// KV keys in the GCS.
const (
	Namespace   = "serve"
	TableKey    = "routes"
	ProxyPrefix = "proxy/"
)

// Table is the published routing state.
type Table struct {
	Version int64 `json:"version"`
	Apps    []App `json:"apps"`
	// HTTP is what the proxies apply of the serve config's proxy_location
	// and http_options.
	HTTP HTTPConfig `json:"http,omitzero"`
	// GRPC is what the gRPC proxies apply of grpc_options.
	GRPC GRPCConfig `json:"grpc,omitzero"`
	// Split sends a share of the HTTP requests to another cluster's serve
	// proxies (a RayService's incremental upgrade; see Split).
	Split Split `json:"split,omitzero"`
}

// SplitHeader marks a request a proxy forwarded under a Split: the proxy
// that receives it serves it itself, never forwarding it again.
const SplitHeader = "X-Goray-Traffic-Split"

// Split is the share of HTTP requests the proxies forward to another
// cluster's serve proxies during a RayService's incremental upgrade
// (NewClusterWithIncrementalUpgrade): the operator sets it on the active
// cluster through PUT /api/serve/traffic_split/ at each of the upgrade's
// steps, Percent of the requests going to Target (the pending cluster's
// serve Service) and the rest to this cluster's replicas.
type Split struct {
	// Target is the base URL (scheme and host:port, no path) requests go to.
	Target string `json:"target,omitempty"`
	// Percent of the requests go to Target (0: none, 100: all).
	Percent int `json:"percent,omitempty"`
}

// Forward reports whether the n-th request (counting from 0) goes to the
// split's target: exactly Percent of every 100 consecutive requests do,
// spread evenly (request n goes when floor((n+1)*p/100) > floor(n*p/100)).
func (s Split) Forward(n uint64) bool {
	if s.Target == "" || s.Percent <= 0 {
		return false
	}
	if s.Percent >= 100 {
		return true
	}
	p := uint64(s.Percent)
	m := n % 100
	return (m+1)*p/100 > m*p/100
}

// GRPCConfig is the gRPC proxies' part of the serve config.
type GRPCConfig struct {
	// ServicerFunctions is grpc_options.grpc_servicer_functions: the gRPC
	// services the proxies pass on (none: any).
	ServicerFunctions []string `json:"servicer_functions,omitempty"`
	// RequestTimeoutS is grpc_options.request_timeout_s (0: no limit).
	RequestTimeoutS float64 `json:"request_timeout_s,omitempty"`
}

// Proxy locations (the serve config's proxy_location).
const (
	EveryNode = "EveryNode" // every node's proxy serves (the default, also for "")
	HeadOnly  = "HeadOnly"  // only the head node's proxy serves
	Disabled  = "Disabled"  // no proxy serves
)

// HTTPConfig is the proxies' part of the serve config.
type HTTPConfig struct {
	// Location is the proxy_location ("" is EveryNode).
	Location string `json:"proxy_location,omitempty"`
	// RootPath is http_options.root_path: the path every route is mounted
	// under ("" for none; else it starts with "/" and does not end with one).
	RootPath string `json:"root_path,omitempty"`
	// RequestTimeoutS is http_options.request_timeout_s: how long a request
	// may take, its streamed response included (0: no limit).
	RequestTimeoutS float64 `json:"request_timeout_s,omitempty"`
}

// Serves reports whether a proxy on a node (the head, or not) serves
// requests under location.
func Serves(location string, head bool) bool {
	switch location {
	case Disabled:
		return false
	case HeadOnly:
		return head
	}
	return true
}

// App is one application.
type App struct {
	Name        string                `json:"name"`
	RoutePrefix string                `json:"route_prefix"`
	Ingress     string                `json:"ingress"`
	Deployments map[string]Deployment `json:"deployments"`
}

// Deployment is one deployment's routable replicas.
type Deployment struct {
	MaxOngoing int       `json:"max_ongoing"`
	MaxQueued  int       `json:"max_queued"`
	Replicas   []Replica `json:"replicas"`
}

// Replica is a replica that takes requests.
type Replica struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	NodeID  string `json:"node_id"`
	Socket  string `json:"socket,omitempty"` // unix socket, for routers on NodeID
	// Models are the multiplexed models the replica holds, sorted.
	Models []string `json:"models,omitempty"`
}

// ProxyInfo is what a node's proxy publishes about itself.
type ProxyInfo struct {
	NodeID     string `json:"node_id"`
	NodeIP     string `json:"node_ip"`
	InstanceID string `json:"instance_id"`
	Port       int    `json:"port"`
	Status     string `json:"status"`
	UpdatedMs  int64  `json:"updated_ms"`
}

// Match finds the application whose route prefix is the longest prefix of
// path; rest is the path below the prefix (at least "/").
func (t *Table) Match(path string) (app *App, rest string) {
	best := -1
	for i := range t.Apps {
		p := t.Apps[i].RoutePrefix
		if p == "" {
			continue
		}
		ok := p == "/" || path == p || strings.HasPrefix(path, p+"/")
		if ok && len(p) > best {
			best, app = len(p), &t.Apps[i]
		}
	}
	if app == nil {
		return nil, ""
	}
	rest = path
	if app.RoutePrefix != "/" {
		rest = strings.TrimPrefix(path, app.RoutePrefix)
	}
	if rest == "" {
		rest = "/"
	}
	return app, rest
}

// RouteMap is Ray's /-/routes answer: route prefix -> application name.
func (t *Table) RouteMap() map[string]string {
	m := map[string]string{}
	for _, a := range t.Apps {
		if a.RoutePrefix != "" {
			m[a.RoutePrefix] = a.Name
		}
	}
	return m
}

// Sort orders apps and replicas so equal tables encode equally.
func (t *Table) Sort() {
	sort.Slice(t.Apps, func(i, j int) bool { return t.Apps[i].Name < t.Apps[j].Name })
	for _, a := range t.Apps {
		for n, d := range a.Deployments {
			sort.Slice(d.Replicas, func(i, j int) bool { return d.Replicas[i].ID < d.Replicas[j].ID })
			a.Deployments[n] = d
		}
	}
}

// ClusterIDHeader is the GCS reply header naming its cluster: random for a
// GCS without durable storage, kept by one restarted on it.
const ClusterIDHeader = rpcutil.ClusterIDHeader

// KeepOnMissing says whether a watcher keeps the table it holds when a read
// finds no table key. held is the cluster id of the GCS that table came from,
// read that of the GCS that answered ("" = unknown, as from a GCS that does
// not send the header). A GCS of the same cluster without the key is one
// whose controller has not published yet: keep. A GCS of another cluster
// (a head restarted without durable storage) knows none of the old
// applications and its nodes stop their replicas: routing on would be split
// brain, so the table goes (requests get 404 like Ray's proxy without apps).
func KeepOnMissing(held, read string) bool {
	return held == "" || read == "" || held == read
}

// Watcher polls the table from the GCS and calls back on every new version.
// While the GCS cannot be read (a head restart) it keeps the last table, so
// proxies and handles go on routing to the replicas, which do not need the GCS.
type Watcher struct {
	gcs      rpcpb.GcsClient
	interval time.Duration
	mu       sync.Mutex
	cur      *Table
	subs     []func(*Table)
	ready    chan struct{}
	once     sync.Once
}

// NewWatcher starts polling until ctx ends.
func NewWatcher(ctx context.Context, gcs rpcpb.GcsClient, interval time.Duration) *Watcher {
	w := &Watcher{gcs: gcs, interval: interval, cur: &Table{}, ready: make(chan struct{})}
	go w.loop(ctx)
	return w
}

// Current is the latest table (empty before the first read).
func (w *Watcher) Current() *Table {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cur
}

// Subscribe calls fn with every new table (and the current one now).
func (w *Watcher) Subscribe(fn func(*Table)) {
	w.mu.Lock()
	w.subs = append(w.subs, fn)
	cur := w.cur
	w.mu.Unlock()
	fn(cur)
}

// set makes t the current table and tells the subscribers.
func (w *Watcher) set(t *Table) {
	w.mu.Lock()
	w.cur = t
	subs := append([]func(*Table){}, w.subs...)
	w.mu.Unlock()
	for _, fn := range subs {
		fn(t)
	}
}

// Ready is closed after the first successful read.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

func (w *Watcher) loop(ctx context.Context) {
	var last []byte
	held := "" // cluster id of the GCS the current table came from
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var md metadata.MD
		rep, err := w.gcs.KvGet(rctx, &rpcpb.KvRequest{Namespace: Namespace, Key: TableKey}, grpc.Header(&md))
		cancel()
		if err == nil {
			read := ""
			if v := md.Get(ClusterIDHeader); len(v) > 0 {
				read = v[0]
			}
			switch {
			case rep.Found:
				held = read
				if string(rep.Value) != string(last) {
					var t Table
					if json.Unmarshal(rep.Value, &t) == nil {
						last = rep.Value
						w.set(&t)
					}
				}
			case !KeepOnMissing(held, read):
				held, last = read, nil
				w.set(&Table{})
			case held == "":
				held = read
			}
			w.once.Do(func() { close(w.ready) })
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.interval):
		}
	}
}
