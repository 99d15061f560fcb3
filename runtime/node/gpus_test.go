package node

import (
	"slices"
	"testing"
)

func TestGPUSetPicksDevices(t *testing.T) {
	g := newGPUSet(4, "")
	if !slices.Equal(g.ids, []string{"0", "1", "2", "3"}) {
		t.Fatalf("ids %v", g.ids)
	}
	a := g.take(2)
	if got := g.idsOf(a); !slices.Equal(got, []string{"0", "1"}) {
		t.Fatalf("2 GPUs: %v", got)
	}
	// Fractions pack onto one device, a partly used one first.
	h1 := g.take(0.5)
	h2 := g.take(0.25)
	if g.idsOf(h1)[0] != "2" || g.idsOf(h2)[0] != "2" {
		t.Fatalf("fractions on %v and %v, want both on 2", g.idsOf(h1), g.idsOf(h2))
	}
	// 1.5 GPUs: device 3 whole, and the half on 2 (0.25 left there: no).
	if g.fits(1.5) {
		t.Fatal("1.5 GPUs fit with 1 whole device and 0.25 of another free")
	}
	if !g.fits(1.25) {
		t.Fatal("1.25 GPUs do not fit with device 3 whole and 0.25 of 2 free")
	}
	// In pieces: 1.25 free in all is not a whole device plus... and 2 whole do not fit.
	if g.fits(2) {
		t.Fatal("2 GPUs fit with one free device")
	}
	g.give(a)
	if !g.fits(3) || g.fits(3.5) {
		t.Fatalf("after giving back 2: free %v", g.free)
	}
	g.give(h1)
	g.give(h2)
	for i, f := range g.free {
		if f != 1 {
			t.Fatalf("device %d has %v free after all came back", i, f)
		}
	}
	if s, ok := g.pick(0); !ok || s != nil {
		t.Fatal("no GPUs picked something")
	}
}

func TestGPUSetIDsFromTheNodesDevices(t *testing.T) {
	g := newGPUSet(2, " 4,7 ")
	if !slices.Equal(g.ids, []string{"4", "7"}) {
		t.Fatalf("ids %v, want the node's CUDA_VISIBLE_DEVICES", g.ids)
	}
	// Fewer listed than the node has: numbered from 0.
	if g := newGPUSet(3, "5"); !slices.Equal(g.ids, []string{"0", "1", "2"}) {
		t.Fatalf("ids %v", g.ids)
	}
	// A node with half a GPU has half of device 0.
	h := newGPUSet(0.5, "")
	if !slices.Equal(h.ids, []string{"0"}) || !h.fits(0.5) || h.fits(0.75) {
		t.Fatalf("half a GPU: ids %v free %v", h.ids, h.free)
	}
	s := h.take(0.5)
	h.give(s)
	h.give(s) // a double give does not make more than the node has
	if h.free[0] != 0.5 {
		t.Fatalf("free %v after giving back, want 0.5", h.free)
	}
	g.reset()
}
