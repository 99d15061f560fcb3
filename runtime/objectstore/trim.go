package objectstore

import "time"

// Freed regions stay mapped in the pool for reuse; the pool unmaps those
// idle for poolIdle when the next region comes back. With no further put
// (the drivers that used the store have exited) that never happens, and the
// process would keep the memory of its busiest moment for good. A timer
// trims the pool when its oldest region has been idle long enough.

// scheduleTrimLocked makes sure a trim runs once the oldest pooled region
// has been idle for the pool's idle time.
func (s *Store) scheduleTrimLocked() {
	if s.trimTimer != nil || s.closed {
		return
	}
	at, ok := s.regions.nextTrim()
	if !ok {
		return
	}
	s.trimTimer = time.AfterFunc(time.Until(at), s.trimIdle)
}

// trimIdle unmaps idle pooled regions and schedules the next trim while
// regions remain.
func (s *Store) trimIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trimTimer = nil
	if s.closed {
		return
	}
	s.regions.trim(time.Now())
	s.scheduleTrimLocked()
}
