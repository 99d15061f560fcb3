//go:build !linux

package objectstore

// mapRegion allocates a heap region where anonymous mappings are not used.
func mapRegion(n int64) *region { return &region{buf: make([]byte, regionSize(n))} }

func unmapRegion(r *region) { r.buf = nil }
