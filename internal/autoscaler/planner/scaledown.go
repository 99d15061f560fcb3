package planner

import (
	"fmt"
	"sort"
	"time"
)

type replicaGroup struct {
	typ  string
	name string
	pods []Node
	idle time.Duration // the least idle pod's
}

// scaleDown removes replicas whose every pod has been idle past its group's
// timeout (or was drained already), holds nothing anyone needs and got no demand in this plan, most
// idle first, never below minReplicas and never the head.
func (s *planState) scaleDown() {
	used := map[string]bool{}
	for _, b := range s.bins {
		if b.used && b.pod != "" {
			used[b.pod] = true
		}
	}
	groups := map[string]*replicaGroup{}
	bad := map[string]bool{}
	var order []string
	for _, n := range s.in.Nodes {
		if n.IsHead || n.PendingDelete {
			continue
		}
		if _, ok := s.types[n.Type]; !ok {
			continue
		}
		k := n.Type + "/" + n.replica()
		g, ok := groups[k]
		if !ok {
			g = &replicaGroup{typ: n.Type, name: n.replica(), idle: n.Idle}
			groups[k] = g
			order = append(order, k)
		}
		g.pods = append(g.pods, n)
		g.idle = min(g.idle, n.Idle)
		// A node already drained (a drain whose patch did not land) takes no
		// work any more: it goes regardless of its idle time.
		if !n.Draining && (!n.registered() || n.Busy || used[n.Pod] || n.Idle < s.timeout(n.Type)) {
			bad[k] = true
		}
	}
	var cands []*replicaGroup
	for _, k := range order {
		if !bad[k] {
			cands = append(cands, groups[k])
		}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].idle != cands[j].idle {
			return cands[i].idle > cands[j].idle
		}
		return cands[i].name < cands[j].name
	})
	kept := map[string]int{}
	for _, g := range cands {
		t := s.types[g.typ]
		if s.replicas[g.typ]-1 < t.MinReplicas {
			kept[g.typ]++
			continue
		}
		s.replicas[g.typ]--
		for _, p := range g.pods {
			reason := fmt.Sprintf("idle %s ≥ %s", p.Idle.Round(time.Millisecond), s.timeout(g.typ))
			if p.Draining {
				reason = "drained"
			}
			s.d.Delete = append(s.d.Delete, Deletion{Pod: p.Pod, NodeID: p.NodeID, Type: g.typ, Replica: g.name, Reason: reason})
			s.d.Reasons = append(s.d.Reasons, fmt.Sprintf("remove %s (%s): %s", p.Pod, g.typ, reason))
		}
	}
	for _, name := range s.order {
		if kept[name] > 0 {
			s.d.Reasons = append(s.d.Reasons, fmt.Sprintf("keep %d idle %s replica(s): minReplicas %d", kept[name], name, s.types[name].MinReplicas))
		}
	}
}
