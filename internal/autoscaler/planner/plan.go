package planner

import (
	"fmt"
	"sort"
	"time"

	"github.com/goray-dev/goray/runtime/scheduler"
)

// bin is capacity demand can be packed onto: a running node, a pod that is
// starting, or a node the plan launches.
type bin struct {
	pod   string // "" for a node this plan launches
	typ   string
	total Resources
	avail Resources // for tasks, actors and placement groups
	cons  Resources // for constraints, which are packed onto totals
	used  bool      // demand or a constraint was placed here
	ready bool      // registered with the GCS
	// labels are the node's (a node to come: its type's), for demand
	// with a label selector.
	labels map[string]string
}

type planState struct {
	in       Input
	types    map[string]*NodeType
	order    []string
	replicas map[string]int32
	start    map[string]int32
	launched map[string]int32
	why      map[string]map[string]int // type → demand key → nodes' worth of it
	bins     []*bin
	budget   int // nodes the upscaling speed still allows; <0 is unlimited
	d        Decision
	unmet    map[string]*Request
	infeas   map[string]*Request
}

// Plan decides target replicas and deletions for one autoscaler round.
func Plan(in Input) Decision {
	s := newPlanState(in)
	for _, c := range in.Constraints {
		s.constraint(c)
	}
	for _, g := range in.Gangs {
		s.gang(g)
	}
	s.tasks()
	s.scaleDown()
	return s.finish()
}

func clamp(v, lo, hi int32) int32 {
	if v < lo {
		v = lo
	}
	if hi >= lo && v > hi {
		v = hi
	}
	return v
}

func newPlanState(in Input) *planState {
	s := &planState{in: in, types: map[string]*NodeType{}, replicas: map[string]int32{}, start: map[string]int32{},
		launched: map[string]int32{}, why: map[string]map[string]int{}, unmet: map[string]*Request{}, infeas: map[string]*Request{}}
	for i := range in.Types {
		t := &in.Types[i]
		s.types[t.Name] = t
		s.order = append(s.order, t.Name)
		r := clamp(t.Replicas, t.MinReplicas, t.MaxReplicas)
		s.replicas[t.Name], s.start[t.Name] = r, r
		if r != t.Replicas {
			s.d.Reasons = append(s.d.Reasons, fmt.Sprintf("%s: replicas %d clamped to [%d,%d]", t.Name, t.Replicas, t.MinReplicas, t.MaxReplicas))
		}
	}
	pods := map[string]int32{}
	ready, starting := 0, 0
	var pendingBins []*bin
	for _, n := range in.Nodes {
		if n.PendingDelete {
			continue
		}
		if !n.IsHead {
			pods[n.Type]++ // a draining pod still exists: it is not a replica to start
		}
		if n.Draining {
			continue // but it takes no work
		}
		if n.registered() {
			ready++
			s.bins = append(s.bins, &bin{pod: n.Pod, typ: n.Type, total: n.Total.Clone(), avail: n.Available.Clone(), cons: n.Total.Clone(), ready: true,
				labels: n.Labels})
			continue
		}
		starting++
		res := n.Total
		if t, ok := s.types[n.Type]; ok && len(res) == 0 {
			res = t.Resources
		}
		pendingBins = append(pendingBins, &bin{pod: n.Pod, typ: n.Type, total: res.Clone(), avail: res.Clone(), cons: res.Clone(),
			labels: s.typeLabels(n.Type)})
	}
	// Replicas the spec asks for whose pods do not exist yet are starting too.
	for _, name := range s.order {
		t := s.types[name]
		for i := pods[name]; i < s.start[name]*t.hosts(); i++ {
			starting++
			pendingBins = append(pendingBins, &bin{typ: name, total: t.Resources.Clone(), avail: t.Resources.Clone(), cons: t.Resources.Clone(),
				labels: t.Labels})
		}
	}
	s.bins = append(s.bins, pendingBins...)
	s.budget = -1
	if in.UpscalingMode == Conservative {
		s.budget = max(max(1, ready)-starting, 0)
	}
	return s
}

// place packs r onto the first bin with room, preferring running nodes.
func place(bins []*bin, r Resources, skip map[*bin]bool) *bin {
	return placeMatching(bins, r, skip, nil)
}

// placeMatching is place on the bins whose labels sel matches.
func placeMatching(bins []*bin, r Resources, skip map[*bin]bool, sel scheduler.Selector) *bin {
	for _, b := range bins {
		if !skip[b] && r.Fits(b.avail) && sel.Matches(b.labels) {
			r.SubFrom(b.avail)
			b.used = true
			return b
		}
	}
	return nil
}

// feasible: some node type, or some existing node, could hold r when empty.
func (s *planState) feasible(r Resources) bool { return s.feasibleMatching(r, nil) }

// feasibleMatching is feasible among the node types and nodes sel matches.
func (s *planState) feasibleMatching(r Resources, sel scheduler.Selector) bool {
	for _, t := range s.in.Types {
		if r.Fits(t.Resources) && sel.Matches(t.Labels) {
			return true
		}
	}
	for _, n := range s.in.Nodes {
		if !n.PendingDelete && !n.Draining && r.Fits(n.Total) && sel.Matches(n.Labels) {
			return true
		}
	}
	return false
}

func (s *planState) typeLabels(name string) map[string]string {
	if t, ok := s.types[name]; ok {
		return t.Labels
	}
	return nil
}

func (s *planState) canLaunch(t *NodeType) bool {
	if s.replicas[t.Name]+1 > t.MaxReplicas {
		return false
	}
	return s.budget < 0 || s.budget >= int(t.hosts())
}

// score rates packing units onto one fresh node of t: node types that would
// leave a GPU unused for non-GPU work come last; then higher utilisation of
// the node's resources (memory counts only when the demand asks for it).
func score(t *NodeType, units []Resources) (gpuOK bool, util float64) {
	avail := t.Resources.Clone()
	asked := map[string]bool{}
	for _, u := range units {
		if u.Fits(avail) {
			u.SubFrom(avail)
			for k, v := range u {
				if v > 0 {
					asked[k] = true
				}
			}
		}
	}
	gpuOK = t.Resources["GPU"] == 0 || asked["GPU"]
	n := 0
	for k, v := range t.Resources {
		if v <= 0 || ((k == "memory" || k == "object_store_memory") && !asked[k]) {
			continue
		}
		util += (v - avail[k]) / v
		n++
	}
	if n > 0 {
		util /= float64(n)
	}
	return gpuOK, util
}

// chooseType picks the node type for units[0], judging by how well the
// remaining units would fill it: least waste, then priority, then name.
func (s *planState) chooseType(units []Resources) *NodeType { return s.chooseTypeMatching(units, nil) }

// chooseTypeMatching is chooseType among the node types sel matches.
func (s *planState) chooseTypeMatching(units []Resources, sel scheduler.Selector) *NodeType {
	var best *NodeType
	var bestGPU bool
	var bestUtil float64
	for _, name := range s.order {
		t := s.types[name]
		if !units[0].Fits(t.Resources) || !s.canLaunch(t) || !sel.Matches(t.Labels) {
			continue
		}
		gpuOK, util := score(t, units)
		better := best == nil
		if !better {
			switch {
			case gpuOK != bestGPU:
				better = gpuOK
			case util > bestUtil+1e-9:
				better = true
			case util > bestUtil-1e-9:
				better = t.Priority > best.Priority
			}
		}
		if better {
			best, bestGPU, bestUtil = t, gpuOK, util
		}
	}
	return best
}

// launch adds one replica of t (NumOfHosts nodes) and returns its bins.
func (s *planState) launch(t *NodeType, forKey string) []*bin {
	s.replicas[t.Name]++
	s.launched[t.Name]++
	if s.budget >= 0 {
		s.budget -= int(t.hosts())
	}
	if s.why[t.Name] == nil {
		s.why[t.Name] = map[string]int{}
	}
	s.why[t.Name][forKey]++
	var out []*bin
	for range t.hosts() {
		b := &bin{typ: t.Name, total: t.Resources.Clone(), avail: t.Resources.Clone(), cons: t.Resources.Clone(), labels: t.Labels}
		s.bins = append(s.bins, b)
		out = append(out, b)
	}
	return out
}

func addReq(m map[string]*Request, r Resources, n int) {
	k := r.Key()
	if x, ok := m[k]; ok {
		x.Count += n
		return
	}
	m[k] = &Request{Shape: r.Clone(), Count: n}
}

// constraint packs RequestResources bundles onto the nodes' totals, launching
// nodes for what does not fit; the nodes it lands on are kept.
func (s *planState) constraint(c Request) {
	if len(positive(c.Shape)) == 0 {
		return
	}
	if !s.feasible(c.Shape) {
		addReq(s.infeas, c.Shape, c.Count)
		return
	}
	units := repeat(c.Shape, c.Count)
	for i, u := range units {
		placed := false
		for _, b := range s.bins {
			if u.Fits(b.cons) {
				u.SubFrom(b.cons)
				b.used = true
				placed = true
				break
			}
		}
		if placed {
			continue
		}
		t := s.chooseType(units[i:])
		if t == nil {
			addReq(s.unmet, u, 1)
			continue
		}
		b := s.launch(t, "constraint {"+u.Key()+"}")[0]
		u.SubFrom(b.cons)
		b.used = true
	}
}

// tasks packs queued tasks and actors, largest first; those with a label
// selector only onto nodes, and node types, whose labels it matches.
func (s *planState) tasks() {
	type unit struct {
		res Resources
		sel scheduler.Selector
	}
	var units []unit
	for _, p := range s.in.Pending {
		if len(positive(p.Shape)) == 0 || p.Count <= 0 {
			continue
		}
		sel := scheduler.Selector(p.Labels)
		if !s.feasibleMatching(p.Shape, sel) {
			addReq(s.infeas, p.Shape, p.Count)
			continue
		}
		for _, r := range repeat(p.Shape, p.Count) {
			units = append(units, unit{r, sel})
		}
	}
	sort.SliceStable(units, func(i, j int) bool { return largerUnit(units[i].res, units[j].res) })
	rest := make([]Resources, len(units))
	for i, u := range units {
		rest[i] = u.res
	}
	for i, u := range units {
		if placeMatching(s.bins, u.res, nil, u.sel) != nil {
			continue
		}
		t := s.chooseTypeMatching(rest[i:], u.sel)
		if t == nil {
			addReq(s.unmet, u.res, 1)
			continue
		}
		key := "{" + u.res.Key() + "}"
		if len(u.sel) > 0 {
			key += " on " + u.sel.String()
		}
		placeMatching(s.launch(t, key), u.res, nil, u.sel)
	}
}

func positive(r Resources) Resources {
	out := Resources{}
	for k, v := range r {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

func repeat(r Resources, n int) []Resources {
	out := make([]Resources, n)
	for i := range out {
		out[i] = positive(r)
	}
	return out
}

// largerUnit orders demand largest first: GPU, then CPU, then more
// resource kinds, then by shape for determinism.
func largerUnit(a, b Resources) bool {
	if a["GPU"] != b["GPU"] {
		return a["GPU"] > b["GPU"]
	}
	if a["CPU"] != b["CPU"] {
		return a["CPU"] > b["CPU"]
	}
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a.Key() < b.Key()
}

func (s *planState) timeout(t string) time.Duration {
	if nt, ok := s.types[t]; ok && nt.IdleTimeout > 0 {
		return nt.IdleTimeout
	}
	return s.in.IdleTimeout
}

func (s *planState) finish() Decision {
	d := s.d
	d.Replicas = map[string]int32{}
	for _, name := range s.order {
		d.Replicas[name] = s.replicas[name]
		if n := s.launched[name]; n > 0 {
			if d.Launch == nil {
				d.Launch = map[string]int32{}
			}
			d.Launch[name] = n
			d.Reasons = append(d.Reasons, fmt.Sprintf("scale up %s %d→%d for %s", name, s.start[name], s.start[name]+n, whyString(s.why[name])))
		}
	}
	for _, r := range sortedReqs(s.infeas) {
		d.Infeasible = append(d.Infeasible, r)
		d.Reasons = append(d.Reasons, fmt.Sprintf("infeasible %s: no worker group can hold it", r))
	}
	for _, r := range sortedReqs(s.unmet) {
		d.Unmet = append(d.Unmet, r)
		d.Reasons = append(d.Reasons, fmt.Sprintf("waiting %s: groups that fit are at maxReplicas or the upscaling speed", r))
	}
	return d
}

func whyString(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%d node(s) for %s", m[k], k)
	}
	return out
}

func sortedReqs(m map[string]*Request) []Request {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Request, 0, len(keys))
	for _, k := range keys {
		out = append(out, *m[k])
	}
	return out
}
