package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"weak"

	"github.com/goray-dev/goray/runtime/serve/internal/router"
)

// ModelIDHeader is the request header naming the model a multiplexed
// deployment serves the request with (Ray Serve's
// serve_multiplexed_model_id). The proxy and handles route a request that
// carries it to a replica that has the model loaded when one does.
const ModelIDHeader = router.ModelIDHeader

// MultiplexedModelID is the model id a request asks for (its
// serve_multiplexed_model_id header; "" if none), as Ray's
// serve.get_multiplexed_model_id().
func MultiplexedModelID(r *http.Request) string { return r.Header.Get(ModelIDHeader) }

// Models is a replica's cache of loaded models for model multiplexing
// (Ray's @serve.multiplexed): at most max models, the least recently used
// unloaded to make room. Make one in the deployment's constructor; the
// replica reports the ids it holds, so routers send each model's requests
// to replicas that hold it and a model is not loaded on every replica.
type Models[M any] struct {
	max  int
	load func(ctx context.Context, id string) (M, error)

	mu      sync.Mutex
	entries map[string]*modelEntry[M]
	order   []string // least recently used first
}

type modelEntry[M any] struct {
	ready chan struct{} // closed when the load ended
	model M
	err   error
}

// Multiplexed makes a model cache of at most maxPerReplica models (Ray's
// max_num_models_per_replica; 3 if <= 0) that loads with load. A model
// implementing io.Closer, or Unload(context.Context), is told when it is
// evicted.
func Multiplexed[M any](maxPerReplica int, load func(ctx context.Context, id string) (M, error)) *Models[M] {
	if maxPerReplica <= 0 {
		maxPerReplica = 3
	}
	m := &Models[M]{max: maxPerReplica, load: load, entries: map[string]*modelEntry[M]{}}
	// Held weakly: a handler rebuilt for a new user_config makes a new
	// cache, and the old one stops counting once nothing uses it.
	wp := weak.Make(m)
	caches.Lock()
	caches.list = append(caches.list, func() ([]string, bool) {
		if c := wp.Value(); c != nil {
			return c.IDs(), true
		}
		return nil, false
	})
	caches.Unlock()
	return m
}

// Get returns the model id, loading it first if this replica does not hold
// it: one load per id at a time, a failed load not kept (the next Get
// tries again).
func (m *Models[M]) Get(ctx context.Context, id string) (M, error) {
	var zero M
	if id == "" {
		return zero, fmt.Errorf("serve: no model id (the request has no %s header)", ModelIDHeader)
	}
	m.mu.Lock()
	e, ok := m.entries[id]
	if !ok {
		// Loading: in entries (others wait for it), not yet in order — it
		// makes room only once loaded, so a failed load evicts nothing.
		e = &modelEntry[M]{ready: make(chan struct{})}
		m.entries[id] = e
		m.mu.Unlock()
		// Not the first caller's cancellation: others may wait for it.
		e.model, e.err = m.load(context.WithoutCancel(ctx), id)
		m.mu.Lock()
		if e.err != nil {
			delete(m.entries, id)
			e.err = fmt.Errorf("serve: load model %q: %w", id, e.err)
		} else {
			m.touchLocked(id)
		}
		m.mu.Unlock()
		close(e.ready)
		return e.model, e.err
	}
	if slices.Contains(m.order, id) {
		m.touchLocked(id)
	}
	m.mu.Unlock()
	select {
	case <-e.ready:
		return e.model, e.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// touchLocked makes id the most recently used and evicts beyond max (an
// evicted model is unloaded outside the lock, once its load has ended).
func (m *Models[M]) touchLocked(id string) {
	m.order = append(slices.DeleteFunc(m.order, func(x string) bool { return x == id }), id)
	for len(m.order) > m.max {
		old := m.order[0]
		m.order = m.order[1:]
		e := m.entries[old]
		delete(m.entries, old)
		go func() {
			<-e.ready
			if e.err == nil {
				unload(e.model)
			}
		}()
	}
}

// IDs are the models held, least recently used first, then those loading.
func (m *Models[M]) IDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := slices.Clone(m.order)
	for id := range m.entries {
		if !slices.Contains(m.order, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func unload(model any) {
	switch x := model.(type) {
	case interface{ Unload(context.Context) }:
		x.Unload(context.Background())
	case io.Closer:
		_ = x.Close()
	}
}

// caches are this process's model caches (a replica's), whose ids its
// Stats report: each the ids of a cache, or false once it is gone.
var caches struct {
	sync.Mutex
	list []func() ([]string, bool)
}

// heldModels is every model id this replica holds, sorted.
func heldModels() []string {
	caches.Lock()
	defer caches.Unlock()
	var ids []string
	caches.list = slices.DeleteFunc(caches.list, func(c func() ([]string, bool)) bool {
		held, ok := c()
		ids = append(ids, held...)
		return !ok
	})
	slices.Sort(ids)
	return slices.Compact(ids)
}
