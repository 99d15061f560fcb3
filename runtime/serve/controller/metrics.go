package controller

import (
	"sort"

	"github.com/goray-dev/goray/runtime/metrics"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// ReplicaStates lists the replicas that run or are starting, for Ray's
// replica metrics. A replica is healthy (ray_serve_deployment_replica_healthy)
// while it is RUNNING (or UPDATING its user_config) and its last health
// check passed; a starting replica, or one whose checks fail, is not. What
// it served is its last Stats. Stopped replicas are left out, as Ray drops
// their series.
func (c *Controller) ReplicaStates() []metrics.ReplicaState {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []metrics.ReplicaState
	for key, a := range c.apps {
		if key != a.name {
			continue // a replaced application still stopping
		}
		for _, d := range a.deps {
			for _, r := range d.reps {
				if r.gone || r.stopping {
					continue
				}
				running := r.state == schema.ReplicaRunning || r.state == schema.ReplicaUpdating
				out = append(out, metrics.ReplicaState{Application: a.name, Deployment: d.name, Replica: r.id, Route: a.spec.Route(),
					Healthy: running && r.healthFails == 0, Read: r.stats.Latency != nil, Processing: r.stats.Ongoing,
					Requests: r.stats.Requests, Errors: r.stats.Errors, Latency: r.stats.Latency, LatencySumMs: r.stats.LatencySumMs})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Replica < out[j].Replica })
	return out
}
