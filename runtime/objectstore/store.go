// Package objectstore is a node's store for large objects: values kept in
// memory up to a capacity, the least recently used spilled to files in a
// directory past it and restored on read, and deleted when their owner frees
// them. The node manager serves it over gRPC in chunks; an in-process driver
// uses it directly.
package objectstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// ErrNotFound means the store has no such object (never stored, freed or lost).
var ErrNotFound = errors.New("object not found in store")

type object struct {
	data    []byte // nil when spilled
	size    int64
	spilled string
	used    uint64
}

// Stats describes the store.
type Stats struct {
	Used, Capacity                int64
	Objects                       int64
	SpilledBytes, SpilledObjects  int64
	RestoredObjects, TotalSpilled int64
}

// Store is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	capacity int64
	dir      string
	used     int64
	clock    uint64
	objs     map[string]*object
	spilledB int64
	spilledN int64
	restored int64
	spills   int64
}

// New makes a store holding up to capacity bytes in memory, spilling into dir.
func New(capacity int64, dir string) *Store {
	return &Store{capacity: capacity, dir: dir, objs: map[string]*object{}}
}

// Put stores data under id, taking ownership of the slice. Storing an id twice keeps the first.
func (s *Store) Put(id string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objs[id]; ok {
		return nil
	}
	s.clock++
	o := &object{data: data, size: int64(len(data)), used: s.clock}
	s.objs[id] = o
	s.used += o.size
	return s.evictLocked(id)
}

// evictLocked spills least recently used objects (not keep) until within capacity.
func (s *Store) evictLocked(keep string) error {
	for s.used > s.capacity {
		var victim string
		var oldest uint64 = ^uint64(0)
		for id, o := range s.objs {
			if o.data != nil && id != keep && o.used < oldest {
				victim, oldest = id, o.used
			}
		}
		if victim == "" {
			victim = keep // only the new object is left: it goes to disk itself
			if o := s.objs[keep]; o == nil || o.data == nil {
				return nil
			}
		}
		if err := s.spillLocked(victim); err != nil {
			return err
		}
		if victim == keep {
			return nil
		}
	}
	return nil
}

func (s *Store) spillLocked(id string) error {
	o := s.objs[id]
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("spill %s: %w", id, err)
	}
	path := filepath.Join(s.dir, id)
	if err := os.WriteFile(path, o.data, 0o644); err != nil {
		return fmt.Errorf("spill %s to %s: %w", id, path, err)
	}
	o.data, o.spilled = nil, path
	s.used -= o.size
	s.spilledB += o.size
	s.spilledN++
	s.spills++
	return nil
}

// Get returns the object's bytes (not to be modified), restoring a spilled one.
func (s *Store) Get(id string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	s.clock++
	o.used = s.clock
	if o.data != nil {
		return o.data, nil
	}
	data, err := os.ReadFile(o.spilled)
	if err != nil {
		return nil, fmt.Errorf("restore %s from %s: %w", id, o.spilled, err)
	}
	s.restored++
	if o.size <= s.capacity {
		os.Remove(o.spilled)
		o.data, o.spilled = data, ""
		s.used += o.size
		s.spilledB -= o.size
		s.spilledN--
		if err := s.evictLocked(id); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// Contains reports whether id is stored (in memory or spilled).
func (s *Store) Contains(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.objs[id]
	return ok
}

// Delete frees objects.
func (s *Store) Delete(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		o, ok := s.objs[id]
		if !ok {
			continue
		}
		if o.data != nil {
			s.used -= o.size
		} else {
			os.Remove(o.spilled)
			s.spilledB -= o.size
			s.spilledN--
		}
		delete(s.objs, id)
	}
}

// Stats returns current usage.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Used: s.used, Capacity: s.capacity, Objects: int64(len(s.objs)),
		SpilledBytes: s.spilledB, SpilledObjects: s.spilledN, RestoredObjects: s.restored, TotalSpilled: s.spills}
}
