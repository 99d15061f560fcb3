package ownership

import (
	"strconv"
	"testing"
)

// BenchmarkStreamedItems is a generator's items in one owner's table: each
// added while the task runs, then released in order. The cost per item
// grows only as a bigger map's does, not linearly with the stream (the task
// counts its live returns instead of scanning them on each release).
func BenchmarkStreamedItems(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			ids := make([]string, n)
			for i := range ids {
				ids[i] = "g" + strconv.Itoa(i)
			}
			b.ResetTimer()
			for range b.N {
				t := New()
				t.AddTask(&Task{ID: "g", Returns: []string{"g"}})
				for _, id := range ids {
					t.AddReturn("g", id, Location{Inline: []byte{1}})
				}
				t.Complete("g", map[string]Location{"g": {}})
				for _, id := range ids {
					t.RemoveLocal(id)
				}
				t.RemoveLocal("g")
				if t.Len() != 0 {
					b.Fatalf("%d objects left", t.Len())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
		})
	}
}
