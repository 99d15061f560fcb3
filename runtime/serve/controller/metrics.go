package controller

import (
	"sort"

	"github.com/goray-dev/goray/runtime/metrics"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// ReplicaHealth lists the replicas that run or are starting, for Ray's
// ray_serve_deployment_replica_healthy: a replica is healthy while it is
// RUNNING (or UPDATING its user_config) and its last health check passed;
// a starting replica, or one whose checks fail, is not. Stopped replicas
// are left out, as Ray drops their series.
func (c *Controller) ReplicaHealth() []metrics.ReplicaHealth {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []metrics.ReplicaHealth
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
				out = append(out, metrics.ReplicaHealth{Application: a.name, Deployment: d.name, Replica: r.id,
					Healthy: running && r.healthFails == 0})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Replica < out[j].Replica })
	return out
}
