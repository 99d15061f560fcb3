// Package objectstore is a node's store for large objects: values kept in
// memory up to a capacity, the least recently used spilled to files in a
// directory past it and read from there, and deleted when their owner frees
// them. The node manager serves it over gRPC in chunks; an in-process driver
// uses it directly.
//
// Objects written with PutFunc live in regions of memory the store maps
// outside the Go heap (anonymous mappings on Linux): the garbage collector
// neither scans nor zeroes them, and freed regions are kept in a pool and
// reused, so a large put is one copy into warm memory. Readers of such an
// object either get a copy (Get) or a view pinned for the length of a
// callback (Read).
package objectstore

import (
	"container/list"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ErrNotFound means the store has no such object (never stored, freed or lost).
var ErrNotFound = errors.New("object not found in store")

type object struct {
	data    []byte  // nil when spilled
	reg     *region // the store memory data lives in (nil: a heap slice)
	pins    int     // readers inside Read
	deleted bool    // freed while pinned: the region goes back when unpinned
	// spilling: its spill file is being written (the store unlocked).
	spilling bool
	size     int64
	spilled  string
	used     uint64
	// owner is the address of the process that owns the object ("" =
	// unknown): when that process is gone, nothing can free the object but
	// DeleteOwned.
	owner string
	// copy: a copy of an object another node holds (PutCopyFunc): under
	// pressure it is dropped, not spilled.
	copy bool
	// elem is the object's place in the store's lru list while its bytes
	// are in memory (nil once spilled or deleted).
	elem *list.Element
}

// Stats describes the store.
type Stats struct {
	Used, Capacity                int64
	Objects                       int64
	SpilledBytes, SpilledObjects  int64
	RestoredObjects, TotalSpilled int64
	// PooledBytes is free store memory kept for reuse; Reclaims counts
	// reclaimer calls.
	PooledBytes, Reclaims int64
	// DroppedCopies counts copies dropped to make room.
	DroppedCopies int64
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
	// spilling is the bytes of objects whose spill files are being
	// written: they leave memory when done.
	spilling int64

	regions  pool
	reclaim  func()
	nextGC   int64 // reclaim when used bytes pass this
	reclaims int64
	dropped  int64         // copies dropped to make room
	freed    chan struct{} // closed when a region is freed (alloc waits on it)

	reclaiming       bool  // a reclaim runs in the background
	deletes          int64 // objects deleted so far
	deletesAtReclaim int64 // ... when the last reclaim started
	closed           bool

	// lru lists the ids of the objects in memory, least recently used
	// first: the next to spill is found without a look at every object (a
	// shuffle holds tens of thousands, most of them spilled).
	lru *list.List
	// copies counts the copies (PutCopyFunc) among the objects.
	copies int

	// owned indexes objects by owner address (see owners.go).
	owned map[string]map[string]struct{}
	// trimTimer unmaps idle pooled regions when no put comes to do it.
	trimTimer *time.Timer
}

// New makes a store holding up to capacity bytes in memory, spilling into dir.
func New(capacity int64, dir string) *Store {
	s := &Store{capacity: capacity, dir: dir, objs: map[string]*object{}, owned: map[string]map[string]struct{}{}, lru: list.New()}
	s.regions.max = min(capacity/2, 1<<30)
	s.regions.idle = poolIdle
	return s
}

// SetReclaimer installs a function the store calls (without its lock) before
// mapping fresh memory or spilling, when the objects it holds may be garbage
// whose owner has not noticed yet: an in-process owner runs its garbage
// collector there so unreachable references free their objects. It is paced
// like a garbage collector: again only once usage has doubled or the
// previous reclaim freed something.
func (s *Store) SetReclaimer(f func()) {
	s.mu.Lock()
	s.reclaim = f
	s.mu.Unlock()
}

// reclaimWait bounds how long alloc waits for a reclaim to free an object of
// n bytes: the owner's cleanups run asynchronously after its collection
// (after many others, at times), and waiting is cheaper than faulting in
// fresh memory, which costs about as much per megabyte.
func reclaimWait(n int64) time.Duration {
	return 20*time.Millisecond + time.Duration(n>>20)*time.Millisecond
}

// alloc returns a region of at least n bytes: a pooled one, one freed by a
// reclaim (a running one, or one started here; waiting for it, bounded by
// reclaimWait, is cheaper than faulting in fresh memory), pooled memory of
// other sizes cut or joined to size (pool.carve), or freshly mapped
// memory. Puts start reclaims in the background too (maybeReclaimLocked),
// so with a spare region in the pool the next put seldom waits.
func (s *Store) alloc(n int64) *region {
	size := regionSize(n)
	s.mu.Lock()
	r := s.regions.take(size)
	if r == nil && (s.reclaiming || s.reclaimDueLocked(n)) {
		if !s.reclaiming {
			s.startReclaimLocked()
		}
		r = s.awaitRegionLocked(size, reclaimWait(n))
	}
	var pieces []*region
	if r == nil {
		// Pooled memory of other sizes (objects of one stage of a job
		// differ in size from the last stage's), rather than fresh.
		r, pieces = s.regions.carve(size)
	}
	s.mu.Unlock()
	switch {
	case len(pieces) > 0:
		r = joinRegions(size, pieces)
	case r == nil:
		r = mapRegion(size)
	}
	return r
}

// awaitRegionLocked waits for a region of size bytes while a reclaim runs,
// and reclaimGrace after it for cleanups that finish late.
func (s *Store) awaitRegionLocked(size int64, d time.Duration) *region {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	var grace <-chan time.Time
	for {
		if r := s.regions.take(size); r != nil || s.used == 0 {
			return r
		}
		if !s.reclaiming && grace == nil {
			grace = time.After(reclaimGrace)
		}
		ch := s.freedChLocked()
		s.mu.Unlock()
		select {
		case <-ch:
			s.mu.Lock()
		case <-grace:
			s.mu.Lock()
			return s.regions.take(size)
		case <-deadline.C:
			s.mu.Lock()
			return s.regions.take(size)
		}
	}
}

// reclaimGrace is how long alloc still waits for frees after a reclaim ended.
const reclaimGrace = 5 * time.Millisecond

// reclaimDueLocked paces reclaims like a garbage collector: one is due when
// the last one freed something, or usage has doubled since it, or the next
// n bytes do not fit in memory, or they are so many that faulting in fresh
// memory for them costs more than a collection.
func (s *Store) reclaimDueLocked(n int64) bool {
	return s.reclaim != nil && s.used > 0 &&
		(s.deletes != s.deletesAtReclaim || s.used+n > s.nextGC || s.used+n > s.capacity || n >= alwaysReclaimSize)
}

// alwaysReclaimSize: objects from this size on are worth a collection each.
const alwaysReclaimSize = 16 << 20

// startReclaimLocked runs the reclaimer in the background; waiters are
// woken as regions come back and when it is over.
func (s *Store) startReclaimLocked() {
	s.reclaiming = true
	s.deletesAtReclaim, s.nextGC = s.deletes, 2*s.used
	s.reclaims++
	f := s.reclaim
	go func() {
		f()
		s.mu.Lock()
		s.reclaiming = false
		s.signalFreedLocked()
		s.mu.Unlock()
	}()
}

// freedChLocked is closed when a region is freed or a reclaim ends.
func (s *Store) freedChLocked() chan struct{} {
	if s.freed == nil {
		s.freed = make(chan struct{})
	}
	return s.freed
}

func (s *Store) signalFreedLocked() {
	if s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
}

// maybeReclaimLocked starts a background reclaim after a put when the next
// put of its size would need fresh memory and other objects, possibly
// garbage by now, are held: their memory is then back in the pool by the
// time the next put comes.
func (s *Store) maybeReclaimLocked(size int64) {
	if !s.reclaiming && s.used > size && s.reclaimDueLocked(size) && !s.regions.has(regionSize(size)) {
		s.startReclaimLocked()
	}
}

// releaseLocked gives an object's region back to the pool (unless pinned).
func (s *Store) releaseLocked(o *object) {
	if o.reg == nil || o.pins > 0 {
		return
	}
	s.freeRegionLocked(o.reg)
	o.reg, o.data = nil, nil
}

func (s *Store) freeRegionLocked(r *region) {
	if s.closed {
		unmapRegion(r)
	} else {
		s.regions.put(r, time.Now())
		s.scheduleTrimLocked()
	}
	if s.freed != nil {
		close(s.freed)
		s.freed = nil
	}
}

// PutFunc stores an object of size bytes that fill writes into store memory
// (mapped outside the Go heap and reused). A fill error stores nothing.
// Storing an id twice keeps the first.
func (s *Store) PutFunc(id string, size int64, fill func(buf []byte) error) error {
	return s.PutFuncFor(id, "", size, fill)
}

// PutFuncFor is PutFunc for an object owned by the process at owner (its
// core worker address), so that DeleteOwned frees it once that process is gone.
func (s *Store) PutFuncFor(id, owner string, size int64, fill func(buf []byte) error) error {
	return s.putFunc(id, owner, size, fill, false)
}

// PutCopyFunc is PutFuncFor for a copy of an object that another node
// holds (a node pulls one to serve its workers and other nodes): when the
// store needs room, copies go first and are dropped instead of spilled,
// since the object can be fetched again from where it came from.
func (s *Store) PutCopyFunc(id, owner string, size int64, fill func(buf []byte) error) error {
	return s.putFunc(id, owner, size, fill, true)
}

func (s *Store) putFunc(id, owner string, size int64, fill func(buf []byte) error, isCopy bool) error {
	r := s.alloc(size)
	buf := r.buf[:size:size]
	if err := fill(buf); err != nil {
		s.mu.Lock()
		s.freeRegionLocked(r)
		s.mu.Unlock()
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.objs[id]; ok || s.closed {
		if ok && !isCopy {
			s.keepLocked(o) // stored here for good now: never dropped
		}
		s.freeRegionLocked(r)
		return nil
	}
	s.clock++
	o := &object{data: buf, reg: r, size: size, used: s.clock, owner: owner, copy: isCopy}
	if isCopy {
		s.copies++
	}
	o.elem = s.lru.PushBack(id)
	s.objs[id] = o
	s.indexLocked(id, owner)
	s.used += size
	err := s.evictLocked(id)
	s.maybeReclaimLocked(size)
	return err
}

// Put stores data under id, taking ownership of the slice. Storing an id twice keeps the first.
func (s *Store) Put(id string, data []byte) error { return s.PutFor(id, "", data) }

// PutFor is Put for an object owned by the process at owner (see PutFuncFor).
func (s *Store) PutFor(id, owner string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.objs[id]; ok {
		s.keepLocked(o) // stored here for good now: never dropped
		return nil
	}
	s.clock++
	o := &object{data: data, size: int64(len(data)), used: s.clock, owner: owner}
	o.elem = s.lru.PushBack(id)
	s.objs[id] = o
	s.indexLocked(id, owner)
	s.used += o.size
	return s.evictLocked(id)
}

// evictLocked drops copies, least recently used first, then spills least
// recently used objects (not keep) until within capacity. The spill files are written without the store's lock, so
// other puts and reads go on meanwhile (a write can take long: past the
// kernel's dirty-page limits it goes at the disk's speed); an object being
// written is pinned and counted in s.spilling, so that others evicting
// pick other objects.
func (s *Store) evictLocked(keep string) error {
	for s.used-s.spilling > s.capacity {
		if s.dropCopyLocked(keep) {
			continue
		}
		var victim string
		for e := s.lru.Front(); e != nil; e = e.Next() {
			id := e.Value.(string)
			if o := s.objs[id]; o.pins == 0 && !o.spilling && id != keep {
				victim = id
				break
			}
		}
		if victim == "" {
			victim = keep // only the new object is left: it goes to disk itself
			if o := s.objs[keep]; o == nil || o.data == nil || o.spilling {
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

// keepLocked makes a copy an object of this node's own (never dropped).
func (s *Store) keepLocked(o *object) {
	if o.copy {
		o.copy = false
		s.copies--
	}
}

// dropCopyLocked deletes the least recently used copy in memory that no
// reader pins (not keep), and reports whether there was one.
func (s *Store) dropCopyLocked(keep string) bool {
	if s.copies == 0 {
		return false
	}
	var victim string
	oldest := ^uint64(0)
	for id, o := range s.objs {
		if o.copy && o.data != nil && o.pins == 0 && !o.spilling && id != keep && o.used < oldest {
			victim, oldest = id, o.used
		}
	}
	if victim == "" {
		return false
	}
	s.deleteLocked(victim)
	s.dropped++
	return true
}

// spillLocked writes object id to its spill file, unlocking the store for
// the write, and frees its memory (once no reader pins it).
func (s *Store) spillLocked(id string) error {
	o := s.objs[id]
	o.pins++
	o.spilling = true
	s.spilling += o.size
	data, dir := o.data, s.dir
	var room []byte // the store memory data starts (writeSpill)
	if o.reg != nil && o.reg.mapped {
		room = o.reg.buf
	}
	path := filepath.Join(dir, id)
	s.mu.Unlock()
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = writeSpill(path, data, room)
	}
	s.mu.Lock()
	o.pins--
	o.spilling = false
	s.spilling -= o.size
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("spill %s to %s: %w", id, path, err)
	}
	if s.objs[id] != o {
		// Deleted (or the store closed) while it was written.
		_ = os.Remove(path)
		s.releaseLocked(o)
		return nil
	}
	o.spilled = path
	s.releaseLocked(o) // unless a reader pinned it meanwhile: then when it is done
	o.data = nil
	s.lru.Remove(o.elem)
	o.elem = nil
	s.used -= o.size
	s.spilledB += o.size
	s.spilledN++
	s.spills++
	return nil
}

// Get returns the object's bytes (not to be modified), reading a spilled
// one from its file. An object in store memory is copied out (the memory is reused once the
// object is freed); Read avoids the copy.
func (s *Store) Get(id string) ([]byte, error) {
	var out []byte
	err := s.Read(id, func(b []byte) error {
		out = b
		return nil
	}, true)
	return out, err
}

// Read calls fn with the object's bytes; they stay valid (pinned) only
// until fn returns. With copyOut, fn gets a heap copy of an object in store
// memory instead. A spilled object is read from its file, outside the
// store's lock, and stays on disk: bringing it back would push out objects
// still to be read, and a shuffle's spilled data is read once (Ray's
// restored objects have the same problem: they spill others).
func (s *Store) Read(id string, fn func([]byte) error, copyOut bool) error {
	s.mu.Lock()
	o, err := s.touchLocked(id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if o.data == nil {
		f, size, err := s.openSpilledLocked(id, o)
		if err != nil {
			return err
		}
		data := make([]byte, size)
		_, err = io.ReadFull(f, data)
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("read spilled %s: %w", id, err)
		}
		return fn(data)
	}
	if o.reg == nil {
		data := o.data
		s.mu.Unlock()
		return fn(data)
	}
	o.pins++
	data := o.data
	s.mu.Unlock()
	if copyOut {
		data = append([]byte(nil), data...)
	}
	err = fn(data)
	s.mu.Lock()
	o.pins--
	if o.deleted || o.spilled != "" {
		s.releaseLocked(o) // freed or spilled while read
	}
	s.mu.Unlock()
	return err
}

// touchLocked is object id, marked as just used (the spill order's most
// recent), under s.mu.
func (s *Store) touchLocked(id string) (*object, error) {
	o, ok := s.objs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	s.clock++
	o.used = s.clock
	if o.elem != nil {
		s.lru.MoveToBack(o.elem)
	}
	return o, nil
}

// openSpilledLocked opens spilled object o's file and its size, and
// unlocks s.mu. The open file stays readable if the object is deleted
// meanwhile.
func (s *Store) openSpilledLocked(id string, o *object) (*os.File, int64, error) {
	f, err := os.Open(o.spilled)
	size := o.size
	s.restored++
	s.mu.Unlock()
	if err != nil {
		return nil, 0, fmt.Errorf("read spilled %s: %w", id, err)
	}
	return f, size, nil
}

// ReadTo calls fn with the object's size and a function that copies its
// bytes into dst (of that size): for a spilled object a read of its file
// straight into dst, without a buffer of its own (Read allocates one); for
// one in memory a copy, the object pinned until fn returns.
func (s *Store) ReadTo(id string, fn func(size int64, copyTo func(dst []byte) error) error) error {
	s.mu.Lock()
	o, err := s.touchLocked(id)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if o.data == nil {
		f, size, err := s.openSpilledLocked(id, o)
		if err != nil {
			return err
		}
		defer f.Close()
		return fn(size, func(dst []byte) error {
			if int64(len(dst)) != size {
				return fmt.Errorf("read spilled %s: %d bytes into %d", id, size, len(dst))
			}
			if _, err := f.ReadAt(dst, 0); err != nil {
				return fmt.Errorf("read spilled %s: %w", id, err)
			}
			return nil
		})
	}
	o.pins++
	data := o.data
	s.mu.Unlock()
	err = fn(int64(len(data)), func(dst []byte) error {
		if len(dst) != len(data) {
			return fmt.Errorf("read %s: %d bytes into %d", id, len(data), len(dst))
		}
		copy(dst, data)
		return nil
	})
	s.mu.Lock()
	o.pins--
	if o.deleted || o.spilled != "" {
		s.releaseLocked(o) // freed or spilled while read
	}
	s.mu.Unlock()
	return err
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
		s.deleteLocked(id)
	}
}

// deleteLocked frees one object: its memory goes back to the pool (when no
// reader pins it) or its spill file is removed. It returns the object's size
// (0 when there was no such object).
func (s *Store) deleteLocked(id string) int64 {
	o, ok := s.objs[id]
	if !ok {
		return 0
	}
	s.deletes++
	if o.elem != nil {
		s.lru.Remove(o.elem)
		o.elem = nil
	}
	if o.copy {
		s.copies--
	}
	if o.data != nil {
		s.used -= o.size
		o.deleted = true
		s.releaseLocked(o)
	} else {
		_ = os.Remove(o.spilled)
		s.spilledB -= o.size
		s.spilledN--
	}
	delete(s.objs, id)
	s.unindexLocked(id, o.owner)
	return o.size
}

// Close frees the store's memory: every object is dropped (a pinned one when
// its reader is done) and pooled regions are unmapped.
func (s *Store) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for id, o := range s.objs {
		o.deleted = true
		s.releaseLocked(o)
		if o.spilled != "" {
			_ = os.Remove(o.spilled)
		}
		delete(s.objs, id)
	}
	clear(s.owned)
	s.lru.Init()
	s.copies = 0
	s.used, s.spilledB, s.spilledN = 0, 0, 0
	s.regions.drain()
	if s.trimTimer != nil {
		s.trimTimer.Stop()
	}
}

// Stats returns current usage.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Used: s.used, Capacity: s.capacity, Objects: int64(len(s.objs)),
		SpilledBytes: s.spilledB, SpilledObjects: s.spilledN, RestoredObjects: s.restored, TotalSpilled: s.spills,
		PooledBytes: s.regions.bytes, Reclaims: s.reclaims, DroppedCopies: s.dropped}
}
