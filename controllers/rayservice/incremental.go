package rayservice

import (
	"fmt"
	"time"

	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// An incremental upgrade (upgradeStrategy.type NewClusterWithIncrementalUpgrade)
// follows KubeRay's state machine, kept where KubeRay keeps it: the Serve
// target_capacity of each cluster (status.{active,pending}ServiceStatus.targetCapacity)
// and the share of traffic routed to each (trafficRoutedPercent,
// lastTrafficMigratedTime). The pending cluster starts at capacity 0; while
// traffic lags its capacity, traffic moves by stepSizePercent every
// intervalSeconds up to it; once traffic equals it, the active cluster's
// capacity drops by maxSurgePercent when the two add up to more than 100,
// else the pending cluster's rises by maxSurgePercent. The upgrade is done
// when the active cluster has capacity 0 and the pending one all the
// traffic: the pending cluster is promoted. So the two clusters together
// never hold more than 100+maxSurgePercent percent of the replicas, and the
// autoscalers hold about as many worker pods.
//
// Unlike KubeRay, which moves on from status alone, a step waits until the
// previous one has taken effect: traffic moves to the pending cluster only
// when it runs every replica of its capacity, and capacities change only
// when the active cluster's proxies split the traffic as the status says.

// progress is an incremental upgrade's state: the clusters' capacities and
// the percent of the traffic routed to the pending cluster (the active one
// takes the rest).
type progress struct {
	ActiveCapacity, PendingCapacity, Traffic int32
	// LastMigrated is when Traffic last changed (zero: never).
	LastMigrated time.Time
}

// upgradeOptions are clusterUpgradeOptions with their defaults.
type upgradeOptions struct {
	MaxSurge, Step int32
	Interval       time.Duration
}

// observed is what the reconcile saw of the clusters.
type observed struct {
	// PendingServes: the pending cluster runs every application, with all
	// the replicas of PendingCapacity.
	PendingServes bool
	// ActiveSettled: the active cluster was given ActiveCapacity and has
	// finished scaling to it.
	ActiveSettled bool
	// ActiveServes: the active cluster runs every application with all the
	// replicas of ActiveCapacity (what a rollback waits for before taking
	// the traffic back).
	ActiveServes bool
	// TrafficApplied: the active cluster's proxies split Traffic percent
	// to the pending cluster.
	TrafficApplied bool
}

// stepResult is what an incremental step decided.
type stepResult struct {
	next   progress
	wait   time.Duration // when the next step is due, 0: when something changes
	reason string        // why nothing changed, or what did
}

// done reports whether the pending cluster has taken over.
func (p progress) done() bool { return p.ActiveCapacity == 0 && p.Traffic == 100 }

// nextStep is one step of an incremental upgrade at now: at most one of
// traffic or a capacity changes.
func nextStep(p progress, o upgradeOptions, obs observed, now time.Time) stepResult {
	switch {
	case p.done():
		return stepResult{next: p, reason: "the pending cluster has every request and the active one no capacity"}
	case !obs.TrafficApplied:
		return stepResult{next: p, reason: fmt.Sprintf("waiting for the active cluster's proxies to route %d%% of the traffic to the pending cluster", p.Traffic)}
	case !obs.PendingServes:
		return stepResult{next: p, reason: fmt.Sprintf("waiting for the pending cluster to run every replica of target capacity %d%%", p.PendingCapacity)}
	case !obs.ActiveSettled:
		return stepResult{next: p, reason: fmt.Sprintf("waiting for the active cluster to scale to target capacity %d%%", p.ActiveCapacity)}
	}
	if p.Traffic < p.PendingCapacity {
		if !p.LastMigrated.IsZero() {
			// The status keeps whole seconds: the interval runs from the
			// latest the last move can have been.
			if due := p.LastMigrated.Truncate(time.Second).Add(time.Second + o.Interval); now.Before(due) {
				return stepResult{next: p, wait: due.Sub(now), reason: fmt.Sprintf("next traffic step at %s", due.UTC().Format(time.RFC3339))}
			}
		}
		n := p
		n.Traffic = min(100, p.Traffic+o.Step, p.PendingCapacity)
		n.LastMigrated = now
		return stepResult{next: n, reason: fmt.Sprintf("traffic to the pending cluster %d%% -> %d%%", p.Traffic, n.Traffic)}
	}
	n := p
	if p.ActiveCapacity+p.PendingCapacity > 100 {
		n.ActiveCapacity = max(0, p.ActiveCapacity-o.MaxSurge)
		return stepResult{next: n, reason: fmt.Sprintf("active cluster's target capacity %d%% -> %d%%", p.ActiveCapacity, n.ActiveCapacity)}
	}
	n.PendingCapacity = min(100, p.PendingCapacity+o.MaxSurge)
	return stepResult{next: n, reason: fmt.Sprintf("pending cluster's target capacity %d%% -> %d%%", p.PendingCapacity, n.PendingCapacity)}
}

// rollbackStep is one step of giving an abandoned incremental upgrade's
// traffic back to the active cluster: its capacity back to 100, then (once
// it runs every replica) all the traffic. ready: the pending cluster may go.
func rollbackStep(p progress, obs observed, now time.Time) (next progress, ready bool, reason string) {
	switch {
	case p.ActiveCapacity < 100:
		n := p
		n.ActiveCapacity = 100
		return n, false, fmt.Sprintf("rollback: active cluster's target capacity %d%% -> 100%%", p.ActiveCapacity)
	case p.Traffic > 0 && !obs.ActiveServes:
		return p, false, "rollback: waiting for the active cluster to run every replica of target capacity 100%"
	case p.Traffic > 0:
		n := p
		n.Traffic, n.LastMigrated = 0, now
		return n, false, fmt.Sprintf("rollback: traffic to the pending cluster %d%% -> 0%%", p.Traffic)
	case !obs.TrafficApplied:
		return p, false, "rollback: waiting for the active cluster's proxies to take all the traffic back"
	}
	return p, true, "rollback: the active cluster has all the traffic back"
}

// incremental reports whether rs upgrades with NewClusterWithIncrementalUpgrade.
func incremental(rs *rayv1.RayService) bool {
	return upgradeStrategy(rs) == rayv1.NewClusterWithIncrementalUpgrade
}

// incrementalOptions reads clusterUpgradeOptions, or says why they cannot
// drive an incremental upgrade (what KubeRay's validation refuses, plus a
// zero step or surge, with which an upgrade would never end).
func incrementalOptions(rs *rayv1.RayService) (upgradeOptions, string) {
	var o *rayv1.ClusterUpgradeOptions
	if u := rs.Spec.UpgradeStrategy; u != nil {
		o = u.ClusterUpgradeOptions
	}
	switch {
	case !desired.AutoscalerEnabled(&rayv1.RayCluster{Spec: rs.Spec.RayClusterSpec}):
		return upgradeOptions{}, "the Ray autoscaler is required for NewClusterWithIncrementalUpgrade (spec.rayClusterConfig.enableInTreeAutoscaling: true)"
	case o == nil:
		return upgradeOptions{}, "spec.upgradeStrategy.clusterUpgradeOptions are required for NewClusterWithIncrementalUpgrade"
	case o.StepSizePercent == nil || *o.StepSizePercent < 1 || *o.StepSizePercent > 100:
		return upgradeOptions{}, "spec.upgradeStrategy.clusterUpgradeOptions.stepSizePercent must be between 1 and 100 (0 would never move traffic)"
	case o.IntervalSeconds == nil || *o.IntervalSeconds < 1:
		return upgradeOptions{}, "spec.upgradeStrategy.clusterUpgradeOptions.intervalSeconds must be at least 1"
	case ptr.Deref(o.MaxSurgePercent, 100) < 1 || ptr.Deref(o.MaxSurgePercent, 100) > 100:
		return upgradeOptions{}, "spec.upgradeStrategy.clusterUpgradeOptions.maxSurgePercent must be between 1 and 100 (0 would never move capacity)"
	}
	return upgradeOptions{MaxSurge: ptr.Deref(o.MaxSurgePercent, 100), Step: *o.StepSizePercent,
		Interval: time.Duration(*o.IntervalSeconds) * time.Second}, ""
}

// progressOf reads an incremental upgrade's state from the status, with
// KubeRay's defaults: the active cluster at capacity 100, the pending one
// at 0 with no traffic.
func progressOf(st *rayv1.RayServiceStatuses) progress {
	p := progress{
		ActiveCapacity:  ptr.Deref(st.ActiveServiceStatus.TargetCapacity, 100),
		PendingCapacity: ptr.Deref(st.PendingServiceStatus.TargetCapacity, 0),
		Traffic:         ptr.Deref(st.PendingServiceStatus.TrafficRoutedPercent, 0),
	}
	if t := st.PendingServiceStatus.LastTrafficMigratedTime; t != nil {
		p.LastMigrated = t.Time
	}
	return p
}

// setProgress writes p into the status in KubeRay's shape: both clusters'
// targetCapacity and trafficRoutedPercent, and lastTrafficMigratedTime on
// both when the traffic moved.
func setProgress(st *rayv1.RayServiceStatuses, p progress) {
	a, q := &st.ActiveServiceStatus, &st.PendingServiceStatus
	a.TargetCapacity, q.TargetCapacity = ptr.To(p.ActiveCapacity), ptr.To(p.PendingCapacity)
	if q.TrafficRoutedPercent == nil || *q.TrafficRoutedPercent != p.Traffic || a.TrafficRoutedPercent == nil || *a.TrafficRoutedPercent != 100-p.Traffic {
		a.TrafficRoutedPercent, q.TrafficRoutedPercent = ptr.To(100-p.Traffic), ptr.To(p.Traffic)
		if !p.LastMigrated.IsZero() {
			a.LastTrafficMigratedTime, q.LastTrafficMigratedTime = nowPtr(p.LastMigrated), nowPtr(p.LastMigrated)
		}
	}
}
