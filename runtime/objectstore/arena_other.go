//go:build !linux

package objectstore

// canJoin: heap regions cannot be joined.
const canJoin = false

// mapRegion allocates a heap region where anonymous mappings are not used.
func mapRegion(n int64) *region { return &region{buf: make([]byte, regionSize(n))} }

func unmapRegion(r *region) { r.buf = nil }

// joinRegions is not used where regions cannot be joined (carve gives no
// pieces): a fresh region.
func joinRegions(size int64, pieces []*region) *region {
	for _, p := range pieces {
		unmapRegion(p)
	}
	return mapRegion(size)
}
