package collective

import (
	"context"
	"sync"

	"github.com/goray-dev/goray/runtime/internal/workerenv"
	"github.com/goray-dev/goray/runtime/ray"
)

// kvNamespace is where the members' addresses live in the cluster's
// key-value store.
const kvNamespace = "collective"

// ClusterRendezvous meets through the cluster's key-value store (the GCS's):
// the members are processes of one goray cluster (ray.Init done).
type ClusterRendezvous struct{}

// Put publishes value under key.
func (ClusterRendezvous) Put(ctx context.Context, key, value string) error {
	_, err := ray.KVPut(ctx, kvNamespace, key, []byte(value), true)
	return err
}

// Get reads key.
func (ClusterRendezvous) Get(ctx context.Context, key string) (string, bool, error) {
	v, ok, err := ray.KVGet(ctx, kvNamespace, key)
	return string(v), ok, err
}

// Delete withdraws key.
func (ClusterRendezvous) Delete(ctx context.Context, key string) error {
	return ray.KVDelete(ctx, kvNamespace, key)
}

// MemoryRendezvous meets in this process's memory: for groups whose
// members are goroutines of one process (tests, a single machine).
type MemoryRendezvous struct {
	mu sync.Mutex
	m  map[string]string
}

// Put publishes value under key.
func (r *MemoryRendezvous) Put(ctx context.Context, key, value string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]string{}
	}
	r.m[key] = value
	return nil
}

// Get reads key.
func (r *MemoryRendezvous) Get(ctx context.Context, key string) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[key]
	return v, ok, nil
}

// Delete withdraws key.
func (r *MemoryRendezvous) Delete(ctx context.Context, key string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, key)
	return nil
}

// defaultHost is the node's IP in a worker process, loopback elsewhere.
func defaultHost() string {
	if ip := workerenv.Current().NodeIP; ip != "" {
		return ip
	}
	return "127.0.0.1"
}
