package gcs

import (
	"github.com/goray-dev/goray/runtime/metrics"
)

// MetricCounts is what the head's metrics port reports of the GCS's
// tables (see package metrics): read at scrape time, under the locks the
// tables' own calls take.
func (s *Server) MetricCounts() metrics.ClusterCounts {
	s.tasks.mu.Lock()
	tasks := s.tasks.h.Counts()
	s.tasks.mu.Unlock()
	out := metrics.ClusterCounts{Tasks: tasks, Actors: map[metrics.ActorCount]int{}, PlacementGroups: map[string]int{},
		ActiveNodes: map[string]int{}, FailedNodes: map[string]int{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.dir.All() {
		out.Actors[metrics.ActorCount{Name: a.Class, State: a.State.String()}]++
	}
	for _, pg := range s.pgs {
		out.PlacementGroups[pg.state]++
	}
	for _, n := range s.nodes {
		if n.awaiting {
			continue // loaded from the storage, not known to be alive or dead yet
		}
		t := n.info.GetNodeTypeName()
		if t == "" {
			t = "worker"
			if n.info.GetIsHead() {
				t = "head"
			}
		}
		if n.alive {
			out.ActiveNodes[t]++
		} else {
			out.FailedNodes[t]++
		}
	}
	return out
}
