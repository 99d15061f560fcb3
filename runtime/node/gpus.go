package node

import (
	"math"
	"strconv"
	"strings"
)

// GPU isolation (Ray's CUDA_VISIBLE_DEVICES for tasks and actors that hold
// GPUs): a node's GPUs are instances, and a lease that holds GPUs holds
// particular ones — whole instances for whole GPUs, a share of one
// instance for a fraction (Ray packs fractional GPUs onto one device). Its
// worker runs with CUDA_VISIBLE_DEVICES naming them; a lease without GPUs
// on a node that has some runs with it empty, so it sees none.

// gpuEps absorbs float rounding in fractions of a GPU.
const gpuEps = 1e-6

// gpuShare is the part of one GPU instance a lease holds.
type gpuShare struct {
	idx    int
	amount float64
}

// gpuSet is a node's GPU instances and what is free of each.
type gpuSet struct {
	ids   []string  // each instance's device id, as CUDA_VISIBLE_DEVICES names it
	free  []float64 // the free fraction of each
	total []float64 // the node's fraction of each (1 but for a last partial one)
}

// newGPUSet makes total GPUs' instances; a fraction left over is a last
// device of which only that part is the node's. Their ids are the node's
// own CUDA_VISIBLE_DEVICES when it lists enough of them (the node was
// given those devices), else 0..n-1.
func newGPUSet(total float64, visible string) *gpuSet {
	n := int(math.Ceil(total - gpuEps))
	g := &gpuSet{ids: make([]string, n), free: make([]float64, n), total: make([]float64, n)}
	var given []string
	if v := strings.TrimSpace(visible); v != "" {
		given = strings.Split(v, ",")
	}
	for i := range n {
		g.ids[i], g.total[i] = strconv.Itoa(i), min(1, total-float64(i))
		if len(given) >= n {
			g.ids[i] = strings.TrimSpace(given[i])
		}
	}
	g.reset()
	return g
}

// has reports whether the node has GPUs.
func (g *gpuSet) has() bool { return g != nil && len(g.ids) > 0 }

// reset frees every instance (the node dropped its leases).
func (g *gpuSet) reset() {
	if g != nil {
		copy(g.free, g.total)
	}
}

// pick chooses the instances for amount GPUs: free whole instances for the
// whole part, lowest first; for a fraction, the instance that fits it
// most tightly (a partly used one before a free one). ok is false when the
// free instances cannot hold it (fractions spread over devices), though
// the node's GPU count may.
func (g *gpuSet) pick(amount float64) (shares []gpuShare, ok bool) {
	if amount <= gpuEps || g == nil {
		return nil, true
	}
	whole := int(math.Floor(amount + gpuEps))
	frac := amount - float64(whole)
	used := map[int]bool{}
	for i := 0; i < len(g.free) && len(shares) < whole; i++ {
		if g.free[i] >= 1-gpuEps {
			shares = append(shares, gpuShare{idx: i, amount: 1})
			used[i] = true
		}
	}
	if len(shares) < whole {
		return nil, false
	}
	if frac > gpuEps {
		best := -1
		for i, f := range g.free {
			if !used[i] && f >= frac-gpuEps && (best < 0 || f < g.free[best]) {
				best = i
			}
		}
		if best < 0 {
			return nil, false
		}
		shares = append(shares, gpuShare{idx: best, amount: frac})
	}
	return shares, true
}

// fits reports whether amount GPUs can be picked now.
func (g *gpuSet) fits(amount float64) bool {
	_, ok := g.pick(amount)
	return ok
}

// take picks and holds amount GPUs (fits said it can).
func (g *gpuSet) take(amount float64) []gpuShare {
	shares, _ := g.pick(amount)
	if g == nil {
		return nil
	}
	for _, s := range shares {
		g.free[s.idx] -= s.amount
	}
	return shares
}

// give returns shares.
func (g *gpuSet) give(shares []gpuShare) {
	if g == nil {
		return
	}
	for _, s := range shares {
		if s.idx < len(g.free) {
			g.free[s.idx] = min(g.total[s.idx], g.free[s.idx]+s.amount)
		}
	}
}

// idsOf is the device ids of shares, in instance order, each once.
func (g *gpuSet) idsOf(shares []gpuShare) []string {
	if g == nil {
		return nil
	}
	var out []string
	for _, s := range shares {
		if s.idx < len(g.ids) {
			out = append(out, g.ids[s.idx])
		}
	}
	return out
}
