// Package controller is the serve controller on the head: it takes
// declarative serve configs (PUT /api/serve/applications/), resolves each
// application's import_path against what the application's binary registered,
// and reconciles applications -> deployments -> replica actors: target counts
// (fixed, autoscaled on ongoing requests, scaled by target_capacity), rolling
// replacement when a replica's resources change, user_config reconfigured in
// place, health checks with restarts, graceful draining, and max_replicas_per_node.
// It publishes the routing table the proxies follow and answers the status
// API with Ray's enums.
package controller

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Config configures the controller.
type Config struct {
	GCS         rpcpb.GcsClient
	GcsAddress  string
	NodeAddress string // the head's node manager (the controller's core workers attach to it)
	NodeID      string
	NodeIP      string
	Logger      *log.Logger
	// DefaultBinary is the executable whose registered applications an
	// import_path names when the application's runtime_env has no "binary"
	// (default: $GORAY_SERVE_BINARY, else goray-examples beside this
	// executable or on PATH).
	DefaultBinary string
	// MaxReplicas caps the replicas all applications may run together,
	// each deployment counted at its most (default $GORAY_SERVE_MAX_REPLICAS,
	// else schema.MaxReplicasPerCluster).
	MaxReplicas int
	// Tick is the reconcile period (default 100ms).
	Tick time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Security is what the controller's core workers present to the cluster.
	Security auth.Config
	// Durable says the GCS keeps its tables in a durable storage (Redis,
	// the file store): replicas then outlive the controller's process, and
	// Close leaves them serving for the controller of the next head, which
	// resumes from its checkpoint. Without it Close stops them: the next
	// head is a new cluster that knows none of them.
	Durable bool
}

// Controller is the head's serve controller.
type Controller struct {
	cfg     Config
	log     *log.Logger
	applyMu sync.Mutex // serializes PUT and DELETE (and the resume after a restart)
	ckMu    sync.Mutex // serializes checkpoint writes
	savedCk []byte     // the checkpoint last written

	mu        sync.Mutex
	deployed  *schema.ServeDeploySchema // the last accepted config (nil: serve not started)
	apps      map[string]*app
	failed    map[string]failedApp
	jobs      map[string]*job // binary hash -> job
	hashes    map[fileVersion]string
	published []byte
	version   int64
	split     routes.Split // set through the traffic split API (split.go)
	lastStats time.Time
	nodes     []*rpcpb.NodeView
	events    []*rpcpb.ClusterEvent // for the GCS (events.go)
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
}

type app struct {
	name       string
	spec       schema.ServeApplicationSchema
	job        *job
	binary     binary // of a restored application, until resume starts its job
	jobID      string // of a restored application: the job resume takes over
	info       wire.AppInfo
	deps       map[string]*dep
	order      []string
	deployedAt time.Time
	deleting   bool
	wasRunning bool
	status     string
	message    string
}

type dep struct {
	app     *app
	name    string
	spec    schema.DeploymentSchema // the code's options merged with the config's
	cfg     schema.Resolved
	key     string // what a replica's identity depends on (resources, placement)
	target  int
	scale   ScaleState
	reps    []*rep
	samples []sample
	// startup failures in a row, and the last one's error
	failures    int
	lastFailure string
	// unhealthy: a replica failed its health check since the last HEALTHY
	unhealthy     bool
	lastChange    string // trigger of the last change (for HEALTHY's status_trigger)
	status        string
	trigger       string
	message       string
	autoscaleNote string
}

type sample struct {
	at      time.Time
	ongoing float64
}

type rep struct {
	id, actorID string
	state       string
	info        wire.Info
	node        string // node chosen for max_replicas_per_node
	startedAt   time.Time
	userCfg     string // the user_config it runs with
	key         string
	cancel      context.CancelFunc // of the start operation
	starting    bool
	reconfig    bool
	stopping    bool
	healthBusy  bool
	statsBusy   bool
	lastHealth  time.Time
	healthFails int
	ongoing     int
	stats       wire.Stats // the last read
	gone        bool
	actorName   string
	// saved is closed once a checkpoint holding the replica is durable:
	// only then is its actor created, so a restarted controller knows
	// every replica actor there is.
	saved   bool
	savedCh chan struct{}
	// adopting: restored from a checkpoint, not yet checked by resume.
	adopting bool
}

// New makes a controller and starts its reconcile loop.
func New(cfg Config) *Controller {
	if cfg.Logger == nil {
		cfg.Logger = log.New(io.Discard, "", 0)
	}
	if cfg.Tick == 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxReplicas <= 0 {
		cfg.MaxReplicas = schema.MaxReplicasPerCluster
		if n, err := strconv.Atoi(os.Getenv("GORAY_SERVE_MAX_REPLICAS")); err == nil && n > 0 {
			cfg.MaxReplicas = n
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Controller{cfg: cfg, log: cfg.Logger, apps: map[string]*app{}, jobs: map[string]*job{}, ctx: ctx, cancel: cancel,
		done: make(chan struct{})}
	c.applyMu.Lock() // until resume has re-adopted what the checkpoint holds
	c.load()
	go c.loop()
	return c
}

// Close stops the loop and the controller's core workers. Without a
// durable GCS it kills the replicas first; with one they keep serving for
// the next head's controller (see Config.Durable).
func (c *Controller) Close() {
	c.cancel()
	<-c.done
	if !c.cfg.Durable {
		c.killReplicas()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, j := range c.jobs {
		j.w.Shutdown()
	}
}

// killReplicas kills every replica actor (bounded: the process is stopping).
func (c *Controller) killReplicas() {
	c.mu.Lock()
	var ids []string
	for _, a := range c.apps {
		for _, d := range a.deps {
			for _, r := range d.reps {
				if r.actorID != "" && !r.gone {
					ids = append(ids, r.actorID)
				}
			}
		}
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, id := range ids {
		_, _ = c.cfg.GCS.KillActor(ctx, &rpcpb.KillActorRequest{ActorId: id, NoRestart: true})
	}
}

func (c *Controller) loop() {
	defer close(c.done)
	c.resume()
	c.applyMu.Unlock()
	t := time.NewTicker(c.cfg.Tick)
	defer t.Stop()
	lastNodes := time.Time{}
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		now := c.cfg.Now()
		c.mu.Lock()
		active := len(c.apps) > 0
		c.mu.Unlock()
		if !active {
			// The last application's removal (and a DELETE's config) reaches the checkpoint too.
			if err := c.saveCheckpoint(c.ctx); err != nil && c.ctx.Err() == nil {
				c.log.Printf("serve: %v (retrying)", err)
			}
			continue
		}
		var dead map[string]bool
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		if list, err := c.cfg.GCS.ListActors(ctx, &rpcpb.Empty{}); err == nil {
			dead = map[string]bool{}
			for _, a := range list.Actors {
				if a.State == rpcpb.ActorState_DEAD {
					dead[a.ActorId] = true
				}
			}
		}
		var nodes []*rpcpb.NodeView
		if now.Sub(lastNodes) > time.Second {
			if v, err := c.cfg.GCS.GetNodes(ctx, &rpcpb.GetNodesRequest{}); err == nil {
				nodes = v.Nodes
				lastNodes = now
			}
		}
		cancel()
		c.mu.Lock()
		if nodes != nil {
			c.nodes = nodes
		}
		c.reconcileLocked(now, dead)
		table := c.tableLocked()
		c.mu.Unlock()
		c.sendEvents(c.ctx)
		if err := c.saveCheckpoint(c.ctx); err != nil && c.ctx.Err() == nil {
			c.log.Printf("serve: %v (retrying; new replicas wait for it)", err)
		}
		c.publish(table)
	}
}

// tableContent is what a table says, without its version: what publish
// compares (t sorted).
func tableContent(t routes.Table) []byte {
	b, _ := json.Marshal(struct {
		Apps  []routes.App
		HTTP  routes.HTTPConfig
		GRPC  routes.GRPCConfig
		Split routes.Split
	}{t.Apps, t.HTTP, t.GRPC, t.Split})
	return b
}

// publish writes the routing table to the GCS when it changed.
func (c *Controller) publish(t routes.Table) {
	t.Sort()
	b := tableContent(t)
	c.mu.Lock()
	if string(b) == string(c.published) {
		c.mu.Unlock()
		return
	}
	c.version++
	t.Version = c.version
	c.mu.Unlock()
	full, _ := json.Marshal(t)
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	if _, err := c.cfg.GCS.KvPut(ctx, &rpcpb.KvRequest{Namespace: routes.Namespace, Key: routes.TableKey, Value: full, Overwrite: true}); err != nil {
		c.log.Printf("serve: publish routes: %v", err)
		return
	}
	c.mu.Lock()
	c.published = b
	c.mu.Unlock()
}

// tableLocked is the routing table: every non-deleting app with a route and
// the replicas of its deployments that take requests.
func (c *Controller) tableLocked() routes.Table {
	t := routes.Table{Split: c.split}
	if d := c.deployed; d != nil {
		t.HTTP.Location = d.ProxyLocation
		if h := d.HTTPOptions; h != nil {
			t.HTTP.RootPath = h.RootPath
			if h.RequestTimeoutS != nil {
				t.HTTP.RequestTimeoutS = *h.RequestTimeoutS
			}
		}
		g, _ := d.GRPC() // validated when it was deployed
		t.GRPC = routes.GRPCConfig{ServicerFunctions: g.GRPCServicerFunctions, RequestTimeoutS: g.RequestTimeoutS}
	}
	for _, a := range c.apps {
		if a.deleting {
			continue
		}
		ra := routes.App{Name: a.name, RoutePrefix: a.spec.Route(), Ingress: a.info.Ingress, Deployments: map[string]routes.Deployment{}}
		for _, d := range a.deps {
			rd := routes.Deployment{MaxOngoing: d.cfg.MaxOngoingRequests, MaxQueued: d.cfg.MaxQueuedRequests}
			for _, r := range d.reps {
				if (r.state == schema.ReplicaRunning || r.state == schema.ReplicaUpdating) && r.info.Address != "" && !r.stopping {
					rd.Replicas = append(rd.Replicas, routes.Replica{ID: r.id, Address: r.info.Address, NodeID: r.info.NodeID, Socket: r.info.Socket,
						Models: r.stats.Models})
				}
			}
			ra.Deployments[d.name] = rd
		}
		t.Apps = append(t.Apps, ra)
	}
	return t
}
