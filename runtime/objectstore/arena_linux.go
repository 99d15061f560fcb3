package objectstore

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// canJoin: pooled regions can be joined into a larger one by moving their
// pages (mremap), without copying or clearing them.
const canJoin = true

// mapRegion maps n bytes of anonymous memory outside the Go heap; large
// regions ask for transparent huge pages (fewer faults, fewer TLB misses).
// (unix.MmapPtr, not syscall.Mmap: regions are split and joined, and
// syscall.Munmap takes only whole mappings it made.)
func mapRegion(n int64) *region {
	size := regionSize(n)
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return &region{buf: make([]byte, size)}
	}
	b := unsafe.Slice((*byte)(p), size)
	if size >= hugePage {
		_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	}
	return &region{buf: b, mapped: true}
}

func unmapRegion(r *region) {
	if r.mapped && len(r.buf) > 0 {
		_ = unix.MunmapPtr(unsafe.Pointer(&r.buf[0]), uintptr(len(r.buf)))
	}
	r.buf = nil
}

// joinRegions makes a region of size bytes whose first bytes are the
// pieces' pages, moved there one mapping at a time (mremap: the pages
// keep their contents and need no fault or clearing); the rest, if the
// pieces do not cover it, is fresh. A piece that cannot be moved (the
// kernel refuses, e.g. past its limit of mappings) is unmapped, and the
// region is fresh from there.
func joinRegions(size int64, pieces []*region) *region {
	r := mapRegion(size)
	if !r.mapped {
		for _, p := range pieces {
			unmapRegion(p)
		}
		return r
	}
	var off int64
	var segs []int64
	failed := false
	for _, p := range pieces {
		var pos int64
		for _, l := range p.segments() {
			if failed {
				break
			}
			_, err := unix.MremapPtr(unsafe.Pointer(&p.buf[pos]), uintptr(l), unsafe.Pointer(&r.buf[off]), uintptr(l),
				unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED)
			if err != nil {
				failed = true
				break
			}
			segs = append(segs, l)
			off += l
			pos += l
		}
		if pos < int64(len(p.buf)) {
			_ = unix.MunmapPtr(unsafe.Pointer(&p.buf[pos]), uintptr(int64(len(p.buf))-pos))
		}
		p.buf = nil
	}
	if off < size {
		segs = append(segs, size-off)
	}
	r.segs = segs
	return r
}
