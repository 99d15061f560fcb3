package gcs

import (
	"time"

	"github.com/goray-dev/goray/runtime/metrics"
)

// autoscalerReportTTL is how long the head exports the autoscaler's last
// report: the autoscaler reports every round (a second or less), so an
// older one means it stopped, and its series go as Ray's do with it.
const autoscalerReportTTL = time.Minute

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
	if a := s.autoscaling; a != nil && time.Since(time.UnixMilli(a.TimestampMs)) < autoscalerReportTTL && a.ActiveNodes != nil {
		out.Autoscaler = &metrics.AutoscalerCounts{Active: a.ActiveNodes, Pending: a.PendingNodes, Failed: a.FailedNodes,
			ClusterResources: a.ClusterResources, PendingResources: a.PendingResources}
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
