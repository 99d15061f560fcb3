// Package scheduler holds goray's placement decisions as pure functions over a
// snapshot of the cluster: which node runs a task or actor (DEFAULT hybrid,
// SPREAD, node affinity, placement-group bundles) and where each bundle of a
// placement group goes (PACK, SPREAD, STRICT_PACK, STRICT_SPREAD). The node
// manager and the GCS call it; it does no I/O and keeps no clocks.
package scheduler

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Resources maps a resource name (CPU, GPU, memory, custom) to an amount.
type Resources map[string]float64

// Fits reports whether r can be taken from avail.
func (r Resources) Fits(avail Resources) bool {
	for k, v := range r {
		if v <= 0 {
			continue
		}
		if avail[k]+1e-9 < v {
			return false
		}
	}
	return true
}

// SubFrom takes r from avail in place.
func (r Resources) SubFrom(avail Resources) {
	for k, v := range r {
		avail[k] -= v
	}
}

// AddTo gives r back to avail in place.
func (r Resources) AddTo(avail Resources) {
	for k, v := range r {
		avail[k] += v
	}
}

// Clone copies r.
func (r Resources) Clone() Resources {
	c := make(Resources, len(r))
	for k, v := range r {
		c[k] = v
	}
	return c
}

// Key is a canonical string of the shape, usable as a map key.
func (r Resources) Key() string {
	keys := make([]string, 0, len(r))
	for k, v := range r {
		if v != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%g", k, r[k])
	}
	return b.String()
}

// Node is one node of the snapshot.
type Node struct {
	ID        string
	Alive     bool
	Total     Resources
	Available Resources
	Labels    map[string]string
}

// Kind is a scheduling strategy.
type Kind int

const (
	Default Kind = iota
	Spread
	NodeAffinity
)

// Strategy selects how a node is chosen.
type Strategy struct {
	Kind   Kind
	NodeID string
	Soft   bool
	// Labels, if any, keep the request to the nodes they match, whatever
	// the kind (labels.go).
	Labels Selector
}

// Status is the outcome of a decision.
type Status int

const (
	// Placed means NodeID has room now.
	Placed Status = iota
	// Wait means some node could run it but none has room now; queue it.
	Wait
	// Infeasible means no node could ever run it (or a hard affinity names a dead node).
	Infeasible
)

func (s Status) String() string {
	return [...]string{"placed", "wait", "infeasible"}[s]
}

// Decision is where to run.
type Decision struct {
	Status Status
	NodeID string
}

// State carries what a scheduler remembers between decisions (the SPREAD cursor).
type State struct {
	spreadNext int
}

// utilization is the fraction of the node's CPU in use (the busiest resource
// when the node has no CPU).
func utilization(n Node) float64 {
	best := 0.0
	for k, t := range n.Total {
		if t <= 0 || (k != "CPU" && n.Total["CPU"] > 0) {
			continue
		}
		u := 1 - n.Available[k]/t
		best = math.Max(best, u)
	}
	return best
}

// Pick chooses a node for a request of shape req submitted on node local.
// Ties go to the smallest node id. Only SPREAD needs the nodes in order (its
// cursor walks them); the other strategies scan them once, without a copy,
// which a node manager deciding for thousands of queued tasks on a view of
// hundreds of nodes feels.
func (s *State) Pick(nodes []Node, local string, req Resources, st Strategy) Decision {
	matches := st.Labels.compile()
	usable := func(n *Node) bool { return n.Alive && matches(n.Labels) }
	feasible := false
	for i := range nodes {
		if usable(&nodes[i]) && req.Fits(nodes[i].Total) {
			feasible = true
			break
		}
	}
	switch st.Kind {
	case NodeAffinity:
		for i := range nodes {
			n := &nodes[i]
			if n.ID != st.NodeID || !usable(n) {
				continue
			}
			if req.Fits(n.Available) {
				return Decision{Placed, n.ID}
			}
			if req.Fits(n.Total) && !st.Soft {
				return Decision{Status: Wait}
			}
		}
		if !st.Soft {
			return Decision{Status: Infeasible}
		}
		return s.Pick(nodes, local, req, Strategy{Labels: st.Labels})
	case Spread:
		if !feasible {
			return Decision{Status: Infeasible}
		}
		alive := make([]*Node, 0, len(nodes))
		for i := range nodes {
			if usable(&nodes[i]) {
				alive = append(alive, &nodes[i])
			}
		}
		sort.Slice(alive, func(i, j int) bool { return alive[i].ID < alive[j].ID })
		for i := 0; i < len(alive); i++ {
			n := alive[(s.spreadNext+i)%len(alive)]
			if req.Fits(n.Available) {
				s.spreadNext = (s.spreadNext + i + 1) % len(alive)
				return Decision{Placed, n.ID}
			}
		}
		return Decision{Status: Wait}
	}
	if !feasible {
		return Decision{Status: Infeasible}
	}
	// DEFAULT (hybrid): stay local while it has room, else the least utilized node with room.
	for i := range nodes {
		if n := &nodes[i]; n.ID == local && usable(n) && req.Fits(n.Available) {
			return Decision{Placed, n.ID}
		}
	}
	best, bestU := "", 2.0
	for i := range nodes {
		n := &nodes[i]
		if !usable(n) || !req.Fits(n.Available) {
			continue
		}
		if u := utilization(*n); u < bestU || (u == bestU && n.ID < best) {
			best, bestU = n.ID, u
		}
	}
	if best == "" {
		return Decision{Status: Wait}
	}
	return Decision{Placed, best}
}

// Placement strategies of placement groups.
const (
	Pack         = "PACK"
	SpreadPG     = "SPREAD"
	StrictPack   = "STRICT_PACK"
	StrictSpread = "STRICT_SPREAD"
)

// PlaceBundles maps every bundle to a node (all or nothing). It returns Wait when
// the group could fit an empty cluster of these nodes but not now, Infeasible
// when it never could.
func PlaceBundles(nodes []Node, bundles []Resources, strategy string) ([]string, Status, error) {
	switch strategy {
	case Pack, SpreadPG, StrictPack, StrictSpread:
	default:
		return nil, Infeasible, fmt.Errorf("unknown placement strategy %q (want PACK, SPREAD, STRICT_PACK or STRICT_SPREAD)", strategy)
	}
	var alive []Node
	for _, n := range nodes {
		if n.Alive {
			alive = append(alive, Node{ID: n.ID, Alive: true, Total: n.Total.Clone(), Available: n.Available.Clone()})
		}
	}
	sort.Slice(alive, func(i, j int) bool { return alive[i].ID < alive[j].ID })
	if out := place(alive, bundles, strategy, func(n Node) Resources { return n.Available }); out != nil {
		return out, Placed, nil
	}
	empty := make([]Node, len(alive))
	for i, n := range alive {
		empty[i] = Node{ID: n.ID, Alive: true, Total: n.Total.Clone(), Available: n.Total.Clone()}
	}
	if out := place(empty, bundles, strategy, func(n Node) Resources { return n.Available }); out != nil {
		return nil, Wait, nil
	}
	return nil, Infeasible, nil
}

func place(nodes []Node, bundles []Resources, strategy string, avail func(Node) Resources) []string {
	out := make([]string, len(bundles))
	switch strategy {
	case StrictPack:
		sum := Resources{}
		for _, b := range bundles {
			b.AddTo(sum)
		}
		for _, n := range nodes {
			if sum.Fits(avail(n)) {
				for i := range out {
					out[i] = n.ID
				}
				return out
			}
		}
		return nil
	case StrictSpread:
		if len(bundles) > len(nodes) {
			return nil
		}
		used := map[string]bool{}
		for i, b := range bundles {
			found := false
			for _, n := range nodes {
				if !used[n.ID] && b.Fits(avail(n)) {
					used[n.ID] = true
					out[i] = n.ID
					found = true
					break
				}
			}
			if !found {
				return nil
			}
		}
		return out
	case Pack:
		for i, b := range bundles {
			// Prefer the node already holding earlier bundles, then first fit.
			placed := false
			if i > 0 {
				for _, n := range nodes {
					if n.ID == out[i-1] && b.Fits(n.Available) {
						b.SubFrom(n.Available)
						out[i] = n.ID
						placed = true
						break
					}
				}
			}
			for _, n := range nodes {
				if placed {
					break
				}
				if b.Fits(n.Available) {
					b.SubFrom(n.Available)
					out[i] = n.ID
					placed = true
				}
			}
			if !placed {
				return nil
			}
		}
		return out
	default: // SPREAD: round robin, reuse nodes only when needed
		cursor := 0
		for i, b := range bundles {
			placed := false
			for k := 0; k < len(nodes); k++ {
				n := nodes[(cursor+k)%len(nodes)]
				if b.Fits(n.Available) {
					b.SubFrom(n.Available)
					out[i] = n.ID
					cursor = (cursor + k + 1) % len(nodes)
					placed = true
					break
				}
			}
			if !placed {
				return nil
			}
		}
		return out
	}
}

// ParseResources parses "CPU=1,GPU=2" style lists (used by tests and the CLI).
func ParseResources(vals []string) (Resources, error) {
	r := Resources{}
	for _, v := range vals {
		k, num, ok := strings.Cut(v, ":")
		if !ok {
			return nil, fmt.Errorf("resource %q: want NAME:AMOUNT", v)
		}
		var f float64
		if _, err := fmt.Sscanf(num, "%g", &f); err != nil {
			return nil, fmt.Errorf("resource %q: %w", v, err)
		}
		r[k] = f
	}
	return r, nil
}
