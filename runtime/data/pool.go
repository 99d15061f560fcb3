package data

import (
	"context"
	"fmt"
	"sync"

	"github.com/goray-dev/goray/runtime/ray"
)

// An actor pool runs a class's batches (Ray's ActorPoolStrategy): it starts
// minActors actors, each building the class's state once, and adds one
// whenever a block is ready and every actor already has a call, up to
// maxActors. Each actor takes up to CallsPerActor calls at once (run in
// order: the next block travels while one is computed). A dead actor is
// restarted by the runtime and its calls retried.

type pooledActor struct {
	h        ray.ActorHandle[poolActor]
	inflight int
	calls    int // all it was given: ties go to the least used
}

type actorPool struct {
	op                   *physicalOp
	minActors, maxActors int
	perActor             int
	retries              int

	mu     sync.Mutex
	cond   *sync.Cond
	actors []*pooledActor
}

func newActorPool(op *physicalOp, opts ExecutionOptions) *actorPool {
	p := &actorPool{op: op, minActors: op.compute.minActors, maxActors: op.compute.maxActors,
		perActor: opts.CallsPerActor, retries: opts.MaxTaskRetries}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// newActor starts an actor of the pool.
func (p *actorPool) newActor(ctx context.Context) (*pooledActor, error) {
	opts := []any{p.op.stages, ray.MaxRestarts(p.retries), ray.MaxTaskRetries(p.retries)}
	res := p.op.compute.resources
	if _, ok := res["CPU"]; !ok {
		// Ray's map_batches actors take one CPU unless told otherwise.
		opts = append(opts, ray.NumCPUs(1))
	}
	if res != nil {
		opts = append(opts, ray.Resources(res))
	}
	h, err := poolClass.Remote(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("starting an actor of the pool: %w", err)
	}
	return &pooledActor{h: h}, nil
}

// acquire picks the actor for the next call: the least busy with room
// (of those, the one given the fewest calls, so a pool's actors share the
// work even when calls end before the next starts), or a new one while every actor is busy and the pool may grow; it waits
// for room when the pool is full.
func (p *actorPool) acquire(ctx context.Context) (*pooledActor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.actors) < p.minActors {
		a, err := p.newActor(ctx)
		if err != nil {
			return nil, err
		}
		p.actors = append(p.actors, a)
	}
	for {
		var best *pooledActor
		for _, a := range p.actors {
			if best == nil || a.inflight < best.inflight || a.inflight == best.inflight && a.calls < best.calls {
				best = a
			}
		}
		if best.inflight > 0 && len(p.actors) < p.maxActors {
			a, err := p.newActor(ctx)
			if err != nil {
				return nil, err
			}
			p.actors = append(p.actors, a)
			best = a
		}
		if best.inflight < p.perActor {
			best.inflight++
			best.calls++
			return best, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p.cond.Wait()
	}
}

func (p *actorPool) release(a *pooledActor) {
	p.mu.Lock()
	a.inflight--
	p.cond.Broadcast()
	p.mu.Unlock()
}

// shutdown kills the pool's actors.
func (p *actorPool) shutdown() {
	p.mu.Lock()
	actors := p.actors
	p.actors = nil
	p.mu.Unlock()
	for _, a := range actors {
		_ = ray.Kill(context.Background(), a.h, true)
	}
}
