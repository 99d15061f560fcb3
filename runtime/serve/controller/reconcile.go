package controller

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// maxStartupFailures is how many replica starts may fail in a row before a
// deployment is DEPLOY_FAILED (and stops retrying until the next deploy).
const maxStartupFailures = 3

// healthFailThreshold is how many failed health checks in a row make a replica unhealthy.
const healthFailThreshold = 3

// statsPeriod is how often replicas' ongoing request counts are read for autoscaling.
const statsPeriod = 250 * time.Millisecond

func (c *Controller) reconcileLocked(now time.Time, dead map[string]bool) {
	doStats := now.Sub(c.lastStats) >= statsPeriod
	if doStats {
		c.lastStats = now
	}
	for name, a := range c.apps {
		for _, dn := range a.order {
			c.reconcileDep(a.deps[dn], now, dead, doStats)
		}
		if a.deleting && c.appEmpty(a) {
			delete(c.apps, name)
			c.noteAppDeletedLocked(name)
			continue
		}
		prev := a.status
		c.appStatus(a)
		c.noteAppStatusLocked(a, prev)
	}
}

func (c *Controller) appEmpty(a *app) bool {
	for _, d := range a.deps {
		if len(d.reps) > 0 {
			return false
		}
	}
	return true
}

// desiredTarget is the replica count a deployment wants now.
func (c *Controller) desiredTarget(d *dep, now time.Time) int {
	capacity := c.deployedCapacity()
	if d.app.deleting {
		return 0
	}
	if d.cfg.Autoscaling == nil {
		return schema.CapacityAdjusted(d.cfg.NumReplicas, capacity)
	}
	a := *d.cfg.Autoscaling
	// Average total ongoing requests over the look-back window.
	cut := now.Add(-seconds(a.LookBackPeriodS))
	i := 0
	for i < len(d.samples) && d.samples[i].at.Before(cut) {
		i++
	}
	d.samples = d.samples[i:]
	if len(d.samples) == 0 {
		n, st := Decide(a, capacity, d.target, 0, now, ScaleState{})
		d.scale = st
		if n != d.target {
			return n
		}
		return d.target
	}
	sum := 0.0
	for _, s := range d.samples {
		sum += s.ongoing
	}
	avg := sum / float64(len(d.samples))
	n, st := Decide(a, capacity, d.target, avg, now, d.scale)
	d.scale = st
	d.autoscaleNote = fmt.Sprintf("%.1f ongoing requests on average over %.0fs", avg, a.LookBackPeriodS)
	return n
}

func (c *Controller) reconcileDep(d *dep, now time.Time, dead map[string]bool, doStats bool) {
	// Forget replicas that died (GCS says DEAD) while running.
	for _, r := range d.reps {
		if r.actorID != "" && dead[r.actorID] && !r.starting && !r.stopping && !r.gone {
			c.log.Printf("serve: replica %s of %s/%s died; replacing it", r.id, d.app.name, d.name)
			r.gone = true
			d.unhealthy = true
		}
	}
	d.reps = filterReps(d.reps)
	old := d.target
	d.target = c.desiredTarget(d, now)
	if d.target != old && d.cfg.Autoscaling != nil && !d.app.deleting {
		if d.target > old {
			d.lastChange = schema.TriggerUpscaleCompleted
		} else {
			d.lastChange = schema.TriggerDownscaleCompleted
		}
		c.log.Printf("serve: autoscaling %s/%s from %d to %d replicas (%s)", d.app.name, d.name, old, d.target, d.autoscaleNote)
	}
	var current, outdated []*rep
	for _, r := range d.reps {
		if r.stopping {
			continue
		}
		if r.key == d.key {
			current = append(current, r)
		} else {
			outdated = append(outdated, r)
		}
	}
	// Scale the current version to the target.
	failed := d.failures >= maxStartupFailures
	if len(current) < d.target && !failed {
		for i := len(current); i < d.target; i++ {
			if r := c.startReplica(d, now); r != nil {
				current = append(current, r)
			}
		}
	}
	if len(current) > d.target {
		// Stop the ones that are not serving first, then the newest.
		sort.SliceStable(current, func(i, j int) bool {
			ri, rj := current[i].state == schema.ReplicaRunning || current[i].state == schema.ReplicaUpdating,
				current[j].state == schema.ReplicaRunning || current[j].state == schema.ReplicaUpdating
			if ri != rj {
				return !ri
			}
			return current[i].startedAt.After(current[j].startedAt)
		})
		for _, r := range current[:len(current)-d.target] {
			c.stopReplica(d, r, true)
		}
		current = current[len(current)-d.target:]
	}
	// Rolling replacement: old replicas go once the new ones serve.
	running := 0
	for _, r := range current {
		if r.state == schema.ReplicaRunning || r.state == schema.ReplicaUpdating {
			running++
		}
	}
	if len(outdated) > 0 && (running >= d.target || failed) {
		for _, r := range outdated {
			c.stopReplica(d, r, true)
		}
	}
	want := wire.RawOrEmpty(d.cfg.UserConfig)
	period := seconds(d.cfg.HealthCheckPeriodS)
	total := 0.0
	for _, r := range d.reps {
		if r.stopping || r.starting || r.gone {
			continue
		}
		if r.userCfg != want && !r.reconfig {
			c.reconfigure(d, r, want)
		}
		if !r.healthBusy && now.Sub(r.lastHealth) >= period {
			c.checkHealth(d, r, now)
		}
		if doStats && !r.statsBusy {
			c.readStats(d, r)
		}
		total += float64(r.ongoing)
	}
	if doStats && d.cfg.Autoscaling != nil {
		d.samples = append(d.samples, sample{at: now, ongoing: total})
	}
	c.depStatus(d, now)
}

func filterReps(rs []*rep) []*rep {
	out := rs[:0]
	for _, r := range rs {
		if !r.gone {
			out = append(out, r)
		}
	}
	return out
}

// depStatus sets a deployment's status, trigger and message.
func (c *Controller) depStatus(d *dep, now time.Time) {
	want := wire.RawOrEmpty(d.cfg.UserConfig)
	ready, starting, stopping, outdated := 0, 0, 0, 0
	var slow []*rep
	for _, r := range d.reps {
		switch {
		case r.stopping:
			stopping++
		case r.key != d.key:
			outdated++
		case r.starting:
			starting++
			if now.Sub(r.startedAt) > 30*time.Second {
				slow = append(slow, r)
			}
		case r.state == schema.ReplicaRunning && r.userCfg == want:
			ready++
		}
	}
	where := fmt.Sprintf("Deployment '%s' in application '%s'", d.name, d.app.name)
	switch {
	case d.app.deleting:
		d.status, d.trigger, d.message = schema.DepUpdating, schema.TriggerDeleting, where+" is being deleted."
	case d.failures >= maxStartupFailures && ready < d.target:
		d.status, d.trigger = schema.DepDeployFailed, schema.TriggerReplicaStartupFailed
		d.message = fmt.Sprintf("The deployment failed to start %d times in a row. This may be due to a problem with its constructor or initial health check failing. See controller logs for details. Error:\n%s", d.failures, d.lastFailure)
	case ready >= d.target && outdated == 0 && stopping == 0:
		if d.lastChange != "" {
			d.trigger, d.lastChange = d.lastChange, ""
		} else if d.status != schema.DepHealthy {
			d.trigger = schema.TriggerConfigUpdateCompleted
		}
		d.status, d.message, d.unhealthy = schema.DepHealthy, "", false
	case d.unhealthy:
		d.status, d.trigger = schema.DepUnhealthy, schema.TriggerHealthCheckFailed
		d.message = fmt.Sprintf("%s has %d of %d replicas running: a replica failed its health check or died and is being replaced.", where, ready, d.target)
	case d.cfg.Autoscaling != nil && d.status != schema.DepUpdating && d.status != "" && outdated == 0:
		if ready < d.target {
			d.status = schema.DepUpscaling
		} else {
			d.status = schema.DepDownscaling
		}
		d.trigger = schema.TriggerAutoscaling
		d.message = fmt.Sprintf("%s is autoscaling to %d replicas (%s).", where, d.target, d.autoscaleNote)
	default:
		d.status, d.trigger = schema.DepUpdating, schema.TriggerConfigUpdateStarted
		d.message = fmt.Sprintf("%s has %d of %d replicas ready.", where, ready, d.target)
		if d.failures > 0 {
			d.message += fmt.Sprintf(" %d replica start(s) failed in a row: %s", d.failures, d.lastFailure)
		}
	}
	if len(slow) > 0 && d.status != schema.DepDeployFailed {
		b := ""
		for k, v := range d.cfg.Resources {
			b += fmt.Sprintf(" %s=%v", k, v)
		}
		d.message = fmt.Sprintf("%s has %d replicas that have taken more than 30s to be scheduled. This may be due to waiting for the cluster to auto-scale or for a runtime environment to be installed. Resources required for each replica:%s.", where, len(slow), b)
	}
}

// appStatus derives an application's status from its deployments'.
func (c *Controller) appStatus(a *app) {
	if a.deleting {
		a.status, a.message = schema.AppDeleting, ""
		return
	}
	var failed, updating, unhealthy []string
	msgs := ""
	for _, n := range a.order {
		d := a.deps[n]
		switch d.status {
		case schema.DepDeployFailed:
			failed = append(failed, n)
			msgs += "\n" + d.message
		case schema.DepUpdating, "":
			updating = append(updating, n)
		case schema.DepUnhealthy:
			unhealthy = append(unhealthy, n)
			msgs += "\n" + d.message
		}
	}
	switch {
	case len(failed) > 0:
		a.status = schema.AppDeployFailed
		a.message = fmt.Sprintf("Deploying application %s failed: the deployment(s) %v failed to start.%s", a.name, failed, msgs)
	case len(updating) > 0:
		a.status, a.message = schema.AppDeploying, fmt.Sprintf("Deploying application %s: waiting for deployment(s) %v.", a.name, updating)
	case len(unhealthy) > 0:
		if a.wasRunning {
			a.status = schema.AppUnhealthy
		} else {
			a.status = schema.AppDeploying
		}
		a.message = fmt.Sprintf("The deployment(s) %v are UNHEALTHY.%s", unhealthy, msgs)
	default:
		a.status, a.message, a.wasRunning = schema.AppRunning, "", true
	}
}

// pickNode chooses a node for a replica of a deployment with
// max_replicas_per_node: an alive node below the limit, preferring one with
// room for the replica and then the fewest replicas. "" = none fits.
func (c *Controller) pickNode(d *dep) (string, bool) {
	if d.cfg.MaxReplicasPerNode <= 0 {
		return "", true
	}
	count := map[string]int{}
	for _, r := range d.reps {
		if r.stopping {
			continue
		}
		n := r.info.NodeID
		if n == "" {
			n = r.node
		}
		count[n]++
	}
	best, bestScore := "", math.Inf(1)
	for _, n := range c.nodes {
		if !n.Alive || n.Status == "DRAINING" || count[n.NodeId] >= d.cfg.MaxReplicasPerNode {
			continue
		}
		score := float64(count[n.NodeId])
		for k, v := range d.cfg.Resources {
			if n.Total[k] < v {
				score = math.Inf(1)
			} else if n.Available[k] < v {
				score += 1000
			}
		}
		if score < bestScore {
			best, bestScore = n.NodeId, score
		}
	}
	return best, best != ""
}
