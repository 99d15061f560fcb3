package objectstore

import (
	"cmp"
	"slices"
	"time"
)

// region is one block of store memory: mapped outside the Go heap where the
// platform allows (so the garbage collector neither scans nor zeroes it), or
// a heap slice elsewhere.
type region struct {
	buf    []byte // full capacity; objects use a prefix
	mapped bool
	freeAt time.Time // when it went back to the pool
	// segs are the lengths of the mappings buf is made of, in order, for a
	// region joined from others (joinRegions); nil: one.
	segs []int64
}

// segments is the lengths of the mappings r is made of.
func (r *region) segments() []int64 {
	if r.segs == nil {
		return []int64{int64(len(r.buf))}
	}
	return r.segs
}

// split cuts r into its first n bytes and the rest (n a multiple of the
// page size, less than r's size): two regions, each freed on its own.
func (r *region) split(n int64) (head, tail *region) {
	head = &region{buf: r.buf[:n:n], mapped: r.mapped}
	tail = &region{buf: r.buf[n:], mapped: r.mapped, freeAt: r.freeAt}
	if r.segs != nil {
		var off int64
		for _, l := range r.segs {
			switch {
			case off+l <= n:
				head.segs = append(head.segs, l)
			case off >= n:
				tail.segs = append(tail.segs, l)
			default:
				head.segs = append(head.segs, n-off)
				tail.segs = append(tail.segs, off+l-n)
			}
			off += l
		}
	}
	return head, tail
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

// Joining pooled regions into a larger one (where pages can be moved)
// takes regions of at least joinMinPiece bytes, at most joinMaxPieces of
// them: each becomes a mapping of its own.
const (
	joinMinPiece  = 64 << 10
	joinMaxPieces = 1024
)

// carve makes a region of n bytes (a regionSize) of pooled memory when
// take found none within its bound: the head of the smallest larger
// region (the tail stays pooled), else, where pages can be moved
// (canJoin), pooled regions to join into one (joinRegions; what they do
// not cover is fresh memory). Reused memory is warm: fresh memory costs a
// page fault and a cleared page per 4 KiB, more than the copy into it.
// It returns nil and no pieces when the pool has nothing to give.
func (p *pool) carve(n int64) (head *region, pieces []*region) {
	best := -1
	for i, r := range p.free {
		if c := int64(len(r.buf)); c > n && (best < 0 || c < int64(len(p.free[best].buf))) {
			best = i
		}
	}
	if best >= 0 {
		head, tail := p.free[best].split(n)
		p.free[best] = tail
		p.bytes -= n
		return head, nil
	}
	if !canJoin {
		return nil, nil
	}
	// The largest regions first, until n is covered.
	idx := make([]int, 0, len(p.free))
	for i, r := range p.free {
		if len(r.buf) >= joinMinPiece {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(len(p.free[b].buf), len(p.free[a].buf)) })
	var got int64
	taken := map[int]bool{}
	for _, i := range idx {
		if got >= n || len(pieces) == joinMaxPieces {
			break
		}
		r := p.free[i]
		if c := int64(len(r.buf)); got+c > n {
			// Only the head is needed; the tail stays pooled.
			h, tail := r.split(n - got)
			p.free[i] = tail
			p.bytes -= n - got
			pieces = append(pieces, h)
			break
		}
		taken[i] = true
		pieces = append(pieces, r)
		got += int64(len(r.buf))
		p.bytes -= int64(len(r.buf))
	}
	if len(taken) > 0 {
		kept := p.free[:0]
		for i, r := range p.free {
			if !taken[i] {
				kept = append(kept, r)
			}
		}
		clear(p.free[len(kept):])
		p.free = kept
	}
	return nil, pieces
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
