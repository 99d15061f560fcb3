package objectstore

import "syscall"

// mapRegion maps n bytes of anonymous memory outside the Go heap; large
// regions ask for transparent huge pages (fewer faults, fewer TLB misses).
func mapRegion(n int64) *region {
	size := regionSize(n)
	b, err := syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return &region{buf: make([]byte, size)}
	}
	if size >= hugePage {
		_ = syscall.Madvise(b, syscall.MADV_HUGEPAGE)
	}
	return &region{buf: b, mapped: true}
}

func unmapRegion(r *region) {
	if r.mapped {
		_ = syscall.Munmap(r.buf)
	}
	r.buf = nil
}
