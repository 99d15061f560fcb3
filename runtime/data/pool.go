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
// restarted by the runtime and its calls retried; a block a call made that
// was lost with its node is made again by a call to an actor of the pool
// (restarted if need be) while the pool lives (see retire).

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
	// outputs are the blocks the pool's calls made that their consumers
	// have not released.
	outputs int
}

func newActorPool(op *physicalOp, opts ExecutionOptions) *actorPool {
	p := &actorPool{op: op, minActors: op.compute.minActors, maxActors: op.compute.maxActors,
		perActor: opts.CallsPerActor, retries: opts.MaxTaskRetries}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// newActor starts an actor of the pool.
func (p *actorPool) newActor(ctx context.Context) (*pooledActor, error) {
	opts := []any{p.op.stages, ray.MaxRestarts(p.retries), ray.MaxTaskRetries(p.retries), ray.SchedulingSpread()}
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

// made counts a block a call of the pool made.
func (p *actorPool) made() {
	p.mu.Lock()
	p.outputs++
	p.mu.Unlock()
}

// released counts a block of the pool's that its consumer released.
func (p *actorPool) released() {
	p.mu.Lock()
	p.outputs--
	if p.outputs <= 0 {
		p.cond.Broadcast()
	}
	p.mu.Unlock()
}

// retire shuts the pool down once its operator is done and every block
// its calls made was released by its consumer, a map operator (or its
// run is over): until then a block lost with its node is made again by
// calling an actor of the pool again (the calls are Idempotent), which a
// killed pool could not do. After a barrier (a sort, a groupby) the pool
// is shut down at once: it may hold the resources the barrier's tasks
// need before they release its blocks.
func (p *actorPool) retire(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	p.mu.Lock()
	for p.outputs > 0 && ctx.Err() == nil {
		p.cond.Wait()
	}
	p.mu.Unlock()
	p.shutdown()
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
