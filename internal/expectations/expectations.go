// Package expectations remembers the pods a controller created or deleted
// until its informer cache shows them, so that a reconcile running on a stale
// cache neither creates a pod twice nor deletes one twice. Entries expire
// after a timeout in case an event is lost.
package expectations

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// DefaultTimeout is how long an unobserved create or delete is trusted.
const DefaultTimeout = 30 * time.Second

// Pod is what the expectations need to know of a pod in the cache.
type Pod struct {
	Name        string
	Terminating bool
}

// Expectations tracks pending creates and deletes per key (cluster/group).
type Expectations struct {
	mu      sync.Mutex
	clock   clock.PassiveClock
	timeout time.Duration
	byKey   map[string]*pending
}

type pending struct {
	created map[string]time.Time
	deleted map[string]time.Time
}

// New returns empty expectations whose entries expire after timeout.
func New(c clock.PassiveClock, timeout time.Duration) *Expectations {
	return &Expectations{clock: c, timeout: timeout, byKey: map[string]*pending{}}
}

func (e *Expectations) get(key string) *pending {
	p := e.byKey[key]
	if p == nil {
		p = &pending{created: map[string]time.Time{}, deleted: map[string]time.Time{}}
		e.byKey[key] = p
	}
	return p
}

// Created records that a pod was created under key.
func (e *Expectations) Created(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).created[name] = e.clock.Now()
}

// Deleted records that a pod was deleted under key.
func (e *Expectations) Deleted(key, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.get(key).deleted[name] = e.clock.Now()
}

// Forget drops everything recorded under keys starting with prefix.
func (e *Expectations) Forget(prefix string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.byKey {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(e.byKey, k)
		}
	}
}

// Reconcile compares what was recorded under key with the pods the cache
// shows, settles what the cache has caught up with, and returns the names
// to treat as existing although the cache lacks them (unobserved creates)
// and the names to treat as gone although the cache still has them
// (unobserved deletes).
func (e *Expectations) Reconcile(key string, cached []Pod) (ghosts []string, gone map[string]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.byKey[key]
	if p == nil {
		return nil, nil
	}
	now := e.clock.Now()
	seen := make(map[string]bool, len(cached))
	terminating := make(map[string]bool)
	for _, pod := range cached {
		seen[pod.Name] = true
		if pod.Terminating {
			terminating[pod.Name] = true
		}
	}
	for name, at := range p.created {
		if seen[name] || now.Sub(at) > e.timeout {
			delete(p.created, name)
			continue
		}
		ghosts = append(ghosts, name)
	}
	gone = map[string]bool{}
	for name, at := range p.deleted {
		if !seen[name] || terminating[name] || now.Sub(at) > e.timeout {
			delete(p.deleted, name)
			continue
		}
		gone[name] = true
	}
	if len(p.created) == 0 && len(p.deleted) == 0 {
		delete(e.byKey, key)
	}
	return ghosts, gone
}

// Pending reports whether anything under key waits for the cache.
func (e *Expectations) Pending(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.byKey[key]
	return p != nil && (len(p.created) > 0 || len(p.deleted) > 0)
}
