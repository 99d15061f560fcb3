package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/goray-dev/goray/runtime/codec"
	"github.com/goray-dev/goray/runtime/core"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// replicaConcurrency lets health checks, stats and drains run side by side.
const replicaConcurrency = 32

func newReplicaID() string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}

// call runs a replica method and decodes its result into out.
func call(ctx context.Context, w *core.Worker, actorID, method string, out any, args ...any) error {
	var cargs []core.Arg
	for _, a := range args {
		b, err := codec.Encode(a)
		if err != nil {
			return err
		}
		cargs = append(cargs, core.Arg{Value: b})
	}
	h := w.SubmitActorTask(actorID, method, cargs, 0, 0, core.CallOptions{})
	b, err := w.Get(ctx, h.ID, h.Owner)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	return codec.Decode(b, out)
}

func isDead(err error) bool {
	var d *core.ActorDiedError
	return errors.As(err, &d)
}

// startReplica creates a replica actor; it is STARTING until its constructor
// ran and it told where it serves.
func (c *Controller) startReplica(d *dep, now time.Time) *rep {
	node, ok := c.pickNode(d)
	if !ok {
		d.autoscaleNote = "no node below max_replicas_per_node"
		return nil
	}
	ctx, cancel := context.WithCancel(c.ctx)
	id := newReplicaID()
	r := &rep{id: id, state: schema.ReplicaStarting, startedAt: now, userCfg: wire.RawOrEmpty(d.cfg.UserConfig),
		key: d.key, starting: true, node: node, cancel: cancel, lastHealth: now, actorName: replicaActorName(d.app.name, d.name, id),
		savedCh: make(chan struct{})}
	d.reps = append(d.reps, r)
	init := wire.ReplicaInit{App: d.app.name, Deployment: d.name, ReplicaID: r.id, UserConfig: r.userCfg}
	// Detached and named, like Ray Serve's replicas: the actor outlives the
	// controller's process (a head restart), and a controller that crashed
	// between writing its checkpoint and learning the actor's id finds it.
	opts := core.ActorOptions{Resources: d.cfg.Resources, MaxConcurrency: replicaConcurrency,
		Strategy: &rpcpb.SchedulingStrategy{Kind: rpcpb.SchedulingStrategy_SPREAD},
		Name:     r.actorName, Namespace: replicaNamespace, Detached: true}
	if node != "" {
		opts.Strategy = &rpcpb.SchedulingStrategy{Kind: rpcpb.SchedulingStrategy_NODE_AFFINITY, NodeId: node}
	}
	w := d.app.job.w
	go func() {
		var id string
		var err error
		select {
		case <-r.savedCh: // in a durable checkpoint: a restarted controller will know it
		case <-ctx.Done():
			err = ctx.Err()
		}
		arg, _ := codec.Encode(init)
		if err == nil {
			id, err = w.NewActor(ctx, wire.ReplicaClass, []core.Arg{{Value: arg}}, opts)
		}
		var info wire.Info
		if err == nil {
			c.mu.Lock()
			r.actorID = id
			c.mu.Unlock()
			err = call(ctx, w, id, wire.ReplicaInfo, &info)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		r.starting = false
		if r.stopping || ctx.Err() != nil {
			// stopReplica may have looked before the id was known; a
			// creation cut short may have created the actor anyway.
			go c.killReplicaActor(r.actorID, r.actorName)
			return
		}
		if err != nil {
			d.failures++
			d.lastFailure = err.Error()
			c.log.Printf("serve: replica %s of %s/%s failed to start: %v", r.id, d.app.name, d.name, err)
			r.gone = true
			go c.killReplicaActor(r.actorID, r.actorName)
			return
		}
		d.failures, d.lastFailure = 0, ""
		r.info, r.state = info, schema.ReplicaRunning
		c.log.Printf("serve: replica %s of %s/%s running at %s (pid %d)", r.id, d.app.name, d.name, info.Address, info.PID)
	}()
	return r
}

// killReplicaActor kills a replica's actor, found by its name when its id
// is not known (its creation was cut short, or the controller restarted
// before it learnt the id). Bounded: a failure leaves an actor the GCS
// still lists, which the next head's resume kills again.
func (c *Controller) killReplicaActor(id, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if id == "" && name != "" {
		a, err := c.cfg.GCS.GetActor(ctx, &rpcpb.GetActorRequest{Name: name, Namespace: replicaNamespace})
		if err != nil || a.State == rpcpb.ActorState_DEAD {
			return
		}
		id = a.ActorId
	}
	if id != "" {
		_, _ = c.cfg.GCS.KillActor(ctx, &rpcpb.KillActorRequest{ActorId: id, NoRestart: true})
	}
}

// stopReplica takes a replica out of routing, lets it drain (graceful) and
// kills its actor.
func (c *Controller) stopReplica(d *dep, r *rep, graceful bool) {
	if r.stopping {
		return
	}
	r.stopping, r.state = true, schema.ReplicaStopping
	w := d.app.job.w
	wait, timeout := d.cfg.GracefulShutdownWaitLoopS, d.cfg.GracefulShutdownTimeoutS
	wasStarting := r.starting
	go func() {
		if wasStarting {
			r.cancel()
		}
		c.mu.Lock()
		id := r.actorID
		running := r.info.Address != ""
		c.mu.Unlock()
		if graceful && running && id != "" {
			// Proxies stop routing to it on their next table read; the
			// replica turns late requests away unprocessed meanwhile.
			ctx, cancel := context.WithTimeout(c.ctx, seconds(timeout+wait)+5*time.Second)
			err := call(ctx, w, id, wire.ReplicaDrain, nil, wire.Drain{WaitLoopS: wait, TimeoutS: timeout})
			cancel()
			if err != nil && !isDead(err) {
				c.log.Printf("serve: drain replica %s: %v", r.id, err)
			}
		}
		if id != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = w.KillActor(ctx, id, true)
			cancel()
		}
		c.mu.Lock()
		r.gone = true
		c.mu.Unlock()
	}()
}

func (c *Controller) reconfigure(d *dep, r *rep, userCfg string) {
	r.reconfig, r.state = true, schema.ReplicaUpdating
	w, id := d.app.job.w, r.actorID
	timeout := seconds(d.cfg.HealthCheckTimeoutS)
	go func() {
		ctx, cancel := context.WithTimeout(c.ctx, timeout)
		err := call(ctx, w, id, wire.ReplicaReconfigure, nil, userCfg)
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		r.reconfig = false
		if r.stopping || r.gone {
			return
		}
		if r.state == schema.ReplicaUpdating {
			r.state = schema.ReplicaRunning
		}
		if err != nil {
			c.log.Printf("serve: reconfigure replica %s of %s/%s: %v", r.id, d.app.name, d.name, err)
			d.failures++
			d.lastFailure = fmt.Sprintf("reconfigure: %v", err)
			if isDead(err) {
				r.gone, d.unhealthy = true, true
			} else {
				c.stopReplica(d, r, false)
			}
			return
		}
		r.userCfg = userCfg
	}()
}

func (c *Controller) checkHealth(d *dep, r *rep, now time.Time) {
	r.healthBusy, r.lastHealth = true, now
	w, id := d.app.job.w, r.actorID
	timeout := seconds(d.cfg.HealthCheckTimeoutS)
	go func() {
		ctx, cancel := context.WithTimeout(c.ctx, timeout)
		err := call(ctx, w, id, wire.ReplicaCheckHealth, nil)
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		r.healthBusy = false
		if r.stopping || r.gone || c.ctx.Err() != nil {
			return
		}
		if err == nil {
			r.healthFails = 0
			return
		}
		r.healthFails++
		c.log.Printf("serve: health check of replica %s of %s/%s failed (%d in a row): %v", r.id, d.app.name, d.name, r.healthFails, err)
		if isDead(err) {
			r.gone, d.unhealthy = true, true
			return
		}
		if r.healthFails >= healthFailThreshold {
			d.unhealthy = true
			c.stopReplica(d, r, false)
		}
	}()
}

func (c *Controller) readStats(d *dep, r *rep) {
	r.statsBusy = true
	w, id := d.app.job.w, r.actorID
	go func() {
		ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
		var st wire.Stats
		err := call(ctx, w, id, wire.ReplicaStats, &st)
		cancel()
		c.mu.Lock()
		defer c.mu.Unlock()
		r.statsBusy = false
		if err == nil {
			r.ongoing, r.stats = st.Ongoing, st
		}
	}()
}
