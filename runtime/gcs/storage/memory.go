package storage

import (
	"context"
	"sort"
	"sync"
)

// Memory is a store in this process's memory: what a GCS restarted in the
// same process (tests, an embedded cluster) can reload; nothing survives
// the process.
type Memory struct {
	mu     sync.Mutex
	tables map[string]map[string][]byte
}

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{tables: map[string]map[string][]byte{}} }

// Apply implements Store.
func (m *Memory) Apply(ctx context.Context, ops ...Op) error {
	if err := checkBatch(ops); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, op := range ops {
		t := m.tables[op.Table]
		if op.Delete {
			delete(t, op.Key)
			continue
		}
		if t == nil {
			t = map[string][]byte{}
			m.tables[op.Table] = t
		}
		t[op.Key] = append([]byte{}, op.Value...)
	}
	return nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, table, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.tables[table][key]
	if !ok {
		return nil, false, nil
	}
	return append([]byte{}, v...), true, nil
}

// Scan implements Store.
func (m *Memory) Scan(ctx context.Context, table string, fn func(key string, value []byte) error) error {
	m.mu.Lock()
	t := m.tables[table]
	keys := make([]string, 0, len(t))
	vals := make(map[string][]byte, len(t))
	for k, v := range t {
		keys = append(keys, k)
		vals[k] = append([]byte{}, v...)
	}
	m.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(k, vals[k]); err != nil {
			return err
		}
	}
	return nil
}

// Durable is false: nothing outlives the process.
func (m *Memory) Durable() bool { return false }

// String implements Store.
func (m *Memory) String() string { return "memory" }

// Close implements Store; the data stays for another user of the store.
func (m *Memory) Close() error { return nil }
