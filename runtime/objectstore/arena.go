package objectstore

import "time"

// region is one block of store memory: mapped outside the Go heap where the
// platform allows (so the garbage collector neither scans nor zeroes it), or
// a heap slice elsewhere.
type region struct {
	buf    []byte // full capacity; objects use a prefix
	mapped bool
	freeAt time.Time // when it went back to the pool
}

const (
	// poolIdle is how long a free region is kept for reuse before it is unmapped.
	poolIdle = 10 * time.Second
	hugePage = 2 << 20
	pageSize = 4 << 10
)

// regionSize rounds a request up so regions of similar objects are interchangeable.
func regionSize(n int64) int64 {
	if n >= hugePage {
		return (n + hugePage - 1) &^ (hugePage - 1)
	}
	return (n + pageSize - 1) &^ (pageSize - 1)
}

// pool holds free regions for reuse: reusing warm, already faulted-in
// memory is what makes large puts cheap.
type pool struct {
	free  []*region // oldest first
	bytes int64
	max   int64
	idle  time.Duration // a region pooled longer is unmapped (poolIdle)
}

// take returns the smallest free region holding n bytes without wasting
// more than half of it, or nil.
func (p *pool) take(n int64) *region {
	best := -1
	for i, r := range p.free {
		c := int64(len(r.buf))
		if c >= n && c <= 2*n && (best < 0 || c < int64(len(p.free[best].buf))) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	r := p.free[best]
	p.free = append(p.free[:best], p.free[best+1:]...)
	p.bytes -= int64(len(r.buf))
	return r
}

// has reports whether take(n) would find a region.
func (p *pool) has(n int64) bool {
	for _, r := range p.free {
		if c := int64(len(r.buf)); c >= n && c <= 2*n {
			return true
		}
	}
	return false
}

// put returns a region to the pool, unmapping the oldest ones past the
// pool's bound and those idle for poolIdle.
func (p *pool) put(r *region, now time.Time) {
	r.freeAt = now
	p.free = append(p.free, r)
	p.bytes += int64(len(r.buf))
	p.trim(now)
}

func (p *pool) trim(now time.Time) {
	for len(p.free) > 0 && (p.bytes > p.max || now.Sub(p.free[0].freeAt) > p.idle) {
		r := p.free[0]
		p.free = p.free[1:]
		p.bytes -= int64(len(r.buf))
		unmapRegion(r)
	}
}

// nextTrim is when trim will next have a region to unmap for idleness
// (false: the pool is empty).
func (p *pool) nextTrim() (time.Time, bool) {
	if len(p.free) == 0 {
		return time.Time{}, false
	}
	// trim unmaps regions idle for more than p.idle: a moment past it.
	return p.free[0].freeAt.Add(p.idle + time.Millisecond), true
}

// drain unmaps every free region.
func (p *pool) drain() {
	for _, r := range p.free {
		unmapRegion(r)
	}
	p.free, p.bytes = nil, 0
}
