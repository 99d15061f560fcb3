package scheduler

import (
	"fmt"
	"testing"
)

// BenchmarkPick250Nodes is one DEFAULT decision on a view of 250 nodes
// with room (the simulated-nodes envelope places 10,000 queued tasks so).
func BenchmarkPick250Nodes(b *testing.B) {
	nodes := make([]Node, 250)
	for i := range nodes {
		nodes[i] = Node{ID: fmt.Sprintf("node-%03d", i), Alive: true,
			Total:     Resources{"CPU": 64, "memory": 256e9, "object_store_memory": 64e9},
			Available: Resources{"CPU": float64(i % 64), "memory": 256e9, "object_store_memory": 64e9},
			Labels:    map[string]string{"zone": "z"}}
	}
	var st State
	req := Resources{"CPU": 1}
	b.ReportAllocs()
	for b.Loop() {
		if d := st.Pick(nodes, "node-000", req, Strategy{}); d.Status != Placed {
			b.Fatal(d)
		}
	}
}
