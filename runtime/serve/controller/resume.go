package controller

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// loadTimeout bounds reading the checkpoint at the start. The GCS is in
// the head's own process and answers at once; a GCS that does not answer
// for this long leaves the controller without applications (logged).
const loadTimeout = 30 * time.Second

// resumeTimeout bounds starting a restored application's job (its core
// worker, taking its job over again) and listing the actors.
const resumeTimeout = 2 * time.Minute

// pendingAdoptTimeout is how long a replica whose actor the GCS is still
// placing or restarting (it was being created at the crash) may take to answer.
const pendingAdoptTimeout = 60 * time.Second

// load reads the checkpoint and restores the applications in it. New calls
// it before the dashboard serves, so the status API answers with them from
// the first request; resume then re-adopts their replicas.
func (c *Controller) load() {
	ctx, cancel := context.WithTimeout(c.ctx, loadTimeout)
	defer cancel()
	for {
		ck, found, err := loadCheckpoint(ctx, c.cfg.GCS)
		if err == nil {
			if found {
				c.mu.Lock()
				c.restoreLocked(ck)
				c.mu.Unlock()
				c.loadPublished(ctx)
			}
			return
		}
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		if errors.As(err, &syntax) || errors.As(err, &typ) || ctx.Err() != nil {
			c.log.Printf("serve: cannot resume from the checkpoint: %v; starting without applications", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// loadPublished reads the routing table the proxies follow, so that the
// first table published after the resume goes on from its version and is
// not written again when it is the same (the adopted replicas are).
func (c *Controller) loadPublished(ctx context.Context) {
	v, err := c.cfg.GCS.KvGet(ctx, &rpcpb.KvRequest{Namespace: routes.Namespace, Key: routes.TableKey})
	if err != nil || !v.Found {
		return
	}
	var t routes.Table
	if json.Unmarshal(v.Value, &t) != nil {
		return
	}
	t.Sort()
	b := tableContent(t)
	c.mu.Lock()
	c.version = max(c.version, t.Version)
	c.published = b
	c.split = t.Split // the operator's last step of an incremental upgrade goes on
	c.mu.Unlock()
}

// adoption is what resume does with a replica of the checkpoint.
type adoption int

const (
	// adoptCheck: its actor is there; it is routed to again once it
	// answers (its info, then its health check).
	adoptCheck adoption = iota
	// adoptForget: its actor is gone; the deployment replaces it.
	adoptForget
	// adoptKill: it was stopping; the stop is finished (its actor killed).
	adoptKill
)

// adoptionFor decides a checkpointed replica's fate from its state and its
// actor as the GCS lists it (nil: no such actor).
func adoptionFor(state string, actor *rpcpb.ActorInfo) adoption {
	switch {
	case state == schema.ReplicaStopping:
		return adoptKill
	case actor == nil || actor.State == rpcpb.ActorState_DEAD:
		return adoptForget
	}
	return adoptCheck
}

// adoptTimeout bounds a replica's answer during resume: its health check
// timeout when its actor is alive, longer when the GCS is placing it again.
func adoptTimeout(actor *rpcpb.ActorInfo, healthTimeout time.Duration) time.Duration {
	if actor.State == rpcpb.ActorState_ALIVE {
		return healthTimeout
	}
	return max(healthTimeout, pendingAdoptTimeout)
}

// resume makes the restored applications run again: a job per binary,
// then every checkpointed replica re-adopted (checked before anything
// routes to it) or forgotten (its actor is gone: the reconcile loop
// replaces it). Until it returns nothing is published and configs wait,
// so proxies keep the table they have.
func (c *Controller) resume() {
	c.mu.Lock()
	apps := map[string]*app{}
	for k, a := range c.apps {
		apps[k] = a
	}
	c.mu.Unlock()
	if len(apps) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, resumeTimeout)
	defer cancel()
	began := time.Now() // for the log only
	for key, a := range apps {
		j, err := c.resumeJob(ctx, a)
		c.mu.Lock()
		if err != nil {
			c.log.Printf("serve: cannot resume application %s: %v; stopping its replicas", a.name, err)
			for _, d := range a.deps {
				for _, r := range d.reps {
					go c.killReplicaActor(r.actorID, r.actorName)
				}
			}
			delete(c.apps, key)
			c.mu.Unlock()
			continue
		}
		a.job = j
		for _, d := range a.deps {
			// A binary changed on disk makes new replica keys: the
			// reconcile loop replaces the old replicas, rolling.
			d.key = replicaKey(j.hash, d.cfg)
		}
		c.mu.Unlock()
	}
	jobsTook := time.Since(began)
	list, err := c.listActors(ctx)
	if err != nil {
		c.log.Printf("serve: resume: list actors: %v; checking every replica by a call", err)
	}
	byID, byName := map[string]*rpcpb.ActorInfo{}, map[string]*rpcpb.ActorInfo{}
	for _, a := range list {
		byID[a.ActorId] = a
		if a.Namespace == replicaNamespace && a.Name != "" && a.State != rpcpb.ActorState_DEAD {
			byName[a.Name] = a
		}
	}
	var wg sync.WaitGroup
	var adopted, forgotten, killed int
	c.mu.Lock()
	for _, a := range c.apps {
		for _, d := range a.deps {
			for _, r := range d.reps {
				actor := byID[r.actorID]
				if actor == nil {
					actor = byName[r.actorName]
				}
				if list == nil && r.actorID != "" { // unknown: let the call tell
					actor = &rpcpb.ActorInfo{ActorId: r.actorID, State: rpcpb.ActorState_ALIVE}
				}
				switch adoptionFor(r.state, actor) {
				case adoptKill:
					killed++
					r.gone, r.adopting = true, false
					go c.killReplicaActor(r.actorID, r.actorName)
				case adoptForget:
					forgotten++
					r.gone, r.adopting = true, false
					d.unhealthy = true
				case adoptCheck:
					r.actorID = actor.ActorId
					wg.Add(1)
					go func(d *dep, r *rep, timeout time.Duration) {
						defer wg.Done()
						c.adopt(ctx, d, r, timeout)
					}(d, r, adoptTimeout(actor, seconds(d.cfg.HealthCheckTimeoutS)))
				}
			}
		}
	}
	c.mu.Unlock()
	wg.Wait()
	c.mu.Lock()
	for _, a := range c.apps {
		for _, d := range a.deps {
			for _, r := range d.reps {
				if !r.gone {
					adopted++
				}
			}
			d.reps = filterReps(d.reps)
		}
	}
	n := len(c.apps)
	c.mu.Unlock()
	c.log.Printf("serve: resumed %d application(s) from the checkpoint: %d replica(s) re-adopted, %d gone (replaced), %d stopping (killed) "+
		"in %v (their jobs %v)", n, adopted, forgotten, killed, time.Since(began).Round(time.Millisecond), jobsTook.Round(time.Millisecond))
}

// resumeJob starts the job of a restored application's binary, resolved
// from its config as a deploy does: the checkpoint's job, taken over again,
// while the binary is the one it names. No catalog is read: the restored
// applications carry their options, and a catalog actor would wait for a
// free worker on a cluster busy with other jobs.
func (c *Controller) resumeJob(ctx context.Context, a *app) (*job, error) {
	path, err := c.binaryFor(a.spec)
	if err != nil {
		return nil, err
	}
	h, err := c.hashOf(path)
	if err != nil {
		return nil, err
	}
	rejoin := ""
	if h == a.binary.hash {
		rejoin = a.jobID
	}
	j, _, err := c.startJob(ctx, binary{path: path, hash: h}, rejoin)
	return j, err
}

// listActors lists the GCS's actors, retrying within ctx.
func (c *Controller) listActors(ctx context.Context) ([]*rpcpb.ActorInfo, error) {
	for {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := c.cfg.GCS.ListActors(lctx, &rpcpb.Empty{})
		cancel()
		if err == nil {
			return v.Actors, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// adopt checks that a restored replica answers (where it serves, then its
// health check) and routes to it again; one that does not is killed and
// forgotten (replaced by the reconcile loop).
func (c *Controller) adopt(ctx context.Context, d *dep, r *rep, timeout time.Duration) {
	c.mu.Lock()
	w, id := d.app.job.w, r.actorID
	c.mu.Unlock()
	actx, cancel := context.WithTimeout(ctx, timeout)
	var info wire.Info
	err := call(actx, w, id, wire.ReplicaInfo, &info)
	if err == nil {
		err = call(actx, w, id, wire.ReplicaCheckHealth, nil)
	}
	cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	r.adopting = false
	if err != nil {
		c.log.Printf("serve: replica %s of %s/%s did not answer after the restart (%v); replacing it", r.id, d.app.name, d.name, err)
		r.gone, d.unhealthy = true, true
		go c.killReplicaActor(id, r.actorName)
		return
	}
	r.info, r.state, r.starting, r.lastHealth = info, schema.ReplicaRunning, false, c.cfg.Now()
}
