package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// CheckpointKey is where, in the GCS KV (namespace routes.Namespace), the
// controller keeps what it needs to resume after a head restart: the
// accepted config, and per application and deployment the replicas it runs.
// Like Ray Serve's controller, it writes the checkpoint before it acts on a
// change (a replica is in it before its actor is created) and reads it back
// when it starts; the GCS makes it durable (Redis, the file store) before it
// acknowledges the write.
const CheckpointKey = "controller/checkpoint"

// replicaNamespace is the actor namespace of replicas (and the controller's
// core workers); replicas are detached actors named by replicaActorName, so
// they outlive the controller and a restarted one finds them by name.
const replicaNamespace = "serve"

func replicaActorName(app, dep, id string) string {
	return "SERVE_REPLICA::" + app + "#" + dep + "#" + id
}

type checkpoint struct {
	// Version is the last routing table version published.
	Version  int64                     `json:"version"`
	Deployed *schema.ServeDeploySchema `json:"deployed,omitempty"`
	Apps     []ckApp                   `json:"apps"`
}

type ckApp struct {
	// Key is the application's key among the controller's applications:
	// its name, or a replaced one's name with a suffix while it stops.
	Key        string                        `json:"key"`
	Name       string                        `json:"name"`
	Spec       schema.ServeApplicationSchema `json:"spec"`
	Binary     string                        `json:"binary"`
	BinaryHash string                        `json:"binary_hash"`
	// JobID is the job its replicas run in: a restarted controller takes
	// it over again (same binary) instead of registering another.
	JobID        string       `json:"job_id,omitempty"`
	Info         wire.AppInfo `json:"info"`
	DeployedAtNs int64        `json:"deployed_at_ns"`
	Deleting     bool         `json:"deleting,omitempty"`
	WasRunning   bool         `json:"was_running,omitempty"`
	Status       string       `json:"status"`
	Message      string       `json:"message,omitempty"`
	Deps         []ckDep      `json:"deployments"`
}

type ckDep struct {
	Name string `json:"name"`
	// Config is the deployment's options (the code's merged with the config's).
	Config  schema.DeploymentSchema `json:"config"`
	Target  int                     `json:"target"`
	Status  string                  `json:"status"`
	Trigger string                  `json:"trigger,omitempty"`
	Message string                  `json:"message,omitempty"`
	Reps    []ckRep                 `json:"replicas"`
}

type ckRep struct {
	ID      string `json:"id"`
	ActorID string `json:"actor_id,omitempty"` // "" until its actor was created: found by name
	State   string `json:"state"`
	// Key and UserConfig are what it runs with (its identity, the
	// user_config it was last configured with).
	Key         string    `json:"key"`
	UserConfig  string    `json:"user_config,omitempty"`
	Node        string    `json:"node,omitempty"`
	StartedAtNs int64     `json:"started_at_ns"`
	Info        wire.Info `json:"info"`
	ActorName   string    `json:"actor_name"`
}

// checkpointLocked is the controller's state as a checkpoint and the
// replicas it holds. Replicas already gone are left out; one stopping is
// in it (as STOPPING) until its actor is killed, so a restarted controller
// finishes the stop.
func (c *Controller) checkpointLocked() (checkpoint, []*rep) {
	ck := checkpoint{Version: c.version, Deployed: c.deployed, Apps: []ckApp{}}
	var reps []*rep
	keys := make([]string, 0, len(c.apps))
	for k := range c.apps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		a := c.apps[k]
		ca := ckApp{Key: k, Name: a.name, Spec: a.spec, Info: a.info, DeployedAtNs: a.deployedAt.UnixNano(), Deleting: a.deleting,
			WasRunning: a.wasRunning, Status: a.status, Message: a.message}
		if a.job != nil {
			ca.Binary, ca.BinaryHash, ca.JobID = a.job.path, a.job.hash, a.job.id
		}
		for _, dn := range a.order {
			d := a.deps[dn]
			cd := ckDep{Name: dn, Config: d.spec, Target: d.target, Status: d.status, Trigger: d.trigger, Message: d.message, Reps: []ckRep{}}
			for _, r := range d.reps {
				if r.gone {
					continue
				}
				cd.Reps = append(cd.Reps, ckRep{ID: r.id, ActorID: r.actorID, State: r.state, Key: r.key, UserConfig: r.userCfg,
					Node: r.node, StartedAtNs: r.startedAt.UnixNano(), Info: r.info, ActorName: r.actorName})
				reps = append(reps, r)
			}
			ca.Deps = append(ca.Deps, cd)
		}
		ck.Apps = append(ck.Apps, ca)
	}
	return ck, reps
}

// saveCheckpoint writes the state to the GCS when it changed since the
// last write, and marks the replicas in it saved (their actors may then be
// created). Writes are serialized so an older state never lands after a
// newer one.
func (c *Controller) saveCheckpoint(ctx context.Context) error {
	c.ckMu.Lock()
	defer c.ckMu.Unlock()
	c.mu.Lock()
	ck, reps := c.checkpointLocked()
	c.mu.Unlock()
	b, err := json.Marshal(ck)
	if err != nil {
		return fmt.Errorf("encode the serve checkpoint: %w", err)
	}
	if string(b) != string(c.savedCk) {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err = c.cfg.GCS.KvPut(wctx, &rpcpb.KvRequest{Namespace: routes.Namespace, Key: CheckpointKey, Value: b, Overwrite: true})
		cancel()
		if err != nil {
			return fmt.Errorf("write the serve checkpoint: %w", err)
		}
		c.savedCk = b
	}
	c.mu.Lock()
	for _, r := range reps {
		if !r.saved {
			r.saved = true
			close(r.savedCh)
		}
	}
	c.mu.Unlock()
	return nil
}

// loadCheckpoint reads the checkpoint; found is false on a cluster where
// serve never ran (or a GCS without durable storage after a restart).
func loadCheckpoint(ctx context.Context, gcs rpcpb.GcsClient) (ck checkpoint, found bool, err error) {
	v, err := gcs.KvGet(ctx, &rpcpb.KvRequest{Namespace: routes.Namespace, Key: CheckpointKey})
	if err != nil {
		return ck, false, err
	}
	if !v.Found {
		return ck, false, nil
	}
	if err := json.Unmarshal(v.Value, &ck); err != nil {
		return ck, false, fmt.Errorf("decode the serve checkpoint: %w", err)
	}
	return ck, true, nil
}

// restoreLocked rebuilds applications, deployments and replicas from a
// checkpoint, as they were when it was written. The applications have no
// job yet (resume starts one per binary); their replicas are to be
// re-adopted (resume checks each before anything routes to it).
func (c *Controller) restoreLocked(ck checkpoint) {
	c.deployed = ck.Deployed
	c.version = ck.Version
	for _, ca := range ck.Apps {
		a := &app{name: ca.Name, spec: ca.Spec, info: ca.Info, deps: map[string]*dep{}, deployedAt: time.Unix(0, ca.DeployedAtNs),
			deleting: ca.Deleting, wasRunning: ca.WasRunning, status: ca.Status, message: ca.Message,
			binary: binary{path: ca.Binary, hash: ca.BinaryHash}, jobID: ca.JobID}
		for _, cd := range ca.Deps {
			r := schema.Resolve(cd.Config)
			d := &dep{app: a, name: cd.Name, spec: cd.Config, cfg: r, key: replicaKey(ca.BinaryHash, r), target: cd.Target,
				status: cd.Status, trigger: cd.Trigger, message: cd.Message}
			for _, cr := range cd.Reps {
				rp := &rep{id: cr.ID, actorID: cr.ActorID, state: cr.State, key: cr.Key, userCfg: cr.UserConfig, node: cr.Node,
					startedAt: time.Unix(0, cr.StartedAtNs), info: cr.Info, actorName: cr.ActorName, cancel: func() {},
					adopting: true, saved: true, savedCh: closedCh}
				if rp.actorName == "" {
					rp.actorName = replicaActorName(a.name, d.name, rp.id)
				}
				d.reps = append(d.reps, rp)
			}
			a.deps[cd.Name] = d
			a.order = append(a.order, cd.Name)
		}
		c.apps[ca.Key] = a
	}
}

// closedCh is the saved channel of a replica that came from a checkpoint.
var closedCh = func() chan struct{} { ch := make(chan struct{}); close(ch); return ch }()
