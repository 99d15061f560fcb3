package rayservice

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

var allObserved = observed{PendingServes: true, ActiveSettled: true, ActiveServes: true, TrafficApplied: true}

// runUpgrade steps an upgrade to its end with every step taking effect at
// once, the clock advancing a second between reconciles; it returns the
// steps taken, as "A<active>/P<pending>/T<traffic>@<seconds>".
func runUpgrade(t *testing.T, o upgradeOptions) []string {
	t.Helper()
	start := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	now := start
	p := progress{ActiveCapacity: 100}
	var steps []string
	lastTraffic := time.Time{}
	for i := 0; !p.done(); i++ {
		if i > 100000 {
			t.Fatalf("no end after %d reconciles: %+v", i, p)
		}
		r := nextStep(p, o, allObserved, now)
		if r.next != p {
			n := r.next
			// KubeRay's invariants.
			if n.ActiveCapacity+n.PendingCapacity > 100+o.MaxSurge {
				t.Fatalf("capacities %d+%d above 100+maxSurge %d", n.ActiveCapacity, n.PendingCapacity, o.MaxSurge)
			}
			if n.Traffic > n.PendingCapacity || n.Traffic < p.Traffic || 100-n.Traffic > n.ActiveCapacity && n.ActiveCapacity < p.ActiveCapacity {
				t.Fatalf("step %+v -> %+v: traffic above the pending capacity, going back, or the active cluster's capacity below its traffic", p, n)
			}
			if n.Traffic != p.Traffic {
				if !lastTraffic.IsZero() && now.Sub(lastTraffic) < o.Interval {
					t.Fatalf("traffic moved %v after the last move, interval %v", now.Sub(lastTraffic), o.Interval)
				}
				if n.Traffic-p.Traffic > o.Step {
					t.Fatalf("traffic moved by %d, step %d", n.Traffic-p.Traffic, o.Step)
				}
				lastTraffic = now
			}
			steps = append(steps, fmt.Sprintf("A%d/P%d/T%d@%d", n.ActiveCapacity, n.PendingCapacity, n.Traffic, int(now.Sub(start).Seconds())))
		} else if r.wait <= 0 && !p.done() {
			t.Fatalf("no step and no wait at %+v: %s", p, r.reason)
		}
		p = r.next
		now = now.Add(time.Second)
	}
	return steps
}

// An upgrade with maxSurge 25, step 10, interval 10 s (the e2e's, but for
// the interval): the pending cluster's capacity rises by 25, traffic
// follows by 10 every interval (plus the second the status rounds off) up
// to it, then the active cluster's capacity drops by 25.
func TestIncrementalUpgradeSteps(t *testing.T) {
	for _, tc := range []struct {
		o    upgradeOptions
		want string
	}{
		{upgradeOptions{MaxSurge: 25, Step: 10, Interval: 10 * time.Second},
			"A100/P25/T0@0 A100/P25/T10@1 A100/P25/T20@12 A100/P25/T25@23 A75/P25/T25@24 A75/P50/T25@25 A75/P50/T35@34 A75/P50/T45@45 A75/P50/T50@56 " +
				"A50/P50/T50@57 A50/P75/T50@58 A50/P75/T60@67 A50/P75/T70@78 A50/P75/T75@89 A25/P75/T75@90 A25/P100/T75@91 A25/P100/T85@100 " +
				"A25/P100/T95@111 A25/P100/T100@122 A0/P100/T100@123"},
		// KubeRay's defaults: surge 100 brings the whole pending cluster up first.
		{upgradeOptions{MaxSurge: 100, Step: 50, Interval: 30 * time.Second},
			"A100/P100/T0@0 A100/P100/T50@1 A100/P100/T100@32 A0/P100/T100@33"},
		// A step larger than the surge stops at the pending capacity.
		{upgradeOptions{MaxSurge: 50, Step: 100, Interval: time.Second},
			"A100/P50/T0@0 A100/P50/T50@1 A50/P50/T50@2 A50/P100/T50@3 A50/P100/T100@4 A0/P100/T100@5"},
	} {
		if got := strings.Join(runUpgrade(t, tc.o), " "); got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.o, got, tc.want)
		}
	}
}

// Nothing moves until the previous step took effect, and traffic waits out
// its interval.
func TestIncrementalUpgradeWaits(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	o := upgradeOptions{MaxSurge: 25, Step: 10, Interval: 10 * time.Second}
	mid := progress{ActiveCapacity: 100, PendingCapacity: 25, Traffic: 10, LastMigrated: now.Add(-4 * time.Second)}
	for _, tc := range []struct {
		name string
		p    progress
		obs  observed
		want string // a part of the reason
		wait time.Duration
	}{
		{"proxies not split yet", mid, observed{PendingServes: true, ActiveSettled: true}, "proxies to route 10%", 0},
		{"pending replicas not up", mid, observed{TrafficApplied: true, ActiveSettled: true}, "every replica of target capacity 25%", 0},
		{"active not scaled down", progress{ActiveCapacity: 75, PendingCapacity: 25, Traffic: 25}, observed{TrafficApplied: true, PendingServes: true},
			"active cluster to scale to target capacity 75%", 0},
		// The status keeps whole seconds: the interval (10 s) runs from the
		// end of the second of the last move.
		{"interval not over", mid, allObserved, "next traffic step at 2026-12-06T12:00:07Z", 7 * time.Second},
		{"done", progress{PendingCapacity: 100, Traffic: 100}, observed{}, "every request", 0},
	} {
		r := nextStep(tc.p, o, tc.obs, now)
		if r.next != tc.p || !strings.Contains(r.reason, tc.want) || r.wait != tc.wait {
			t.Errorf("%s: %+v after %v (%q), want no change, wait %v, a reason with %q", tc.name, r.next, r.wait, r.reason, tc.wait, tc.want)
		}
	}
}

// A rollback gives the active cluster its capacity back first, then, once
// it runs every replica, all the traffic; only then may the pending
// cluster go.
func TestIncrementalRollback(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	p := progress{ActiveCapacity: 50, PendingCapacity: 75, Traffic: 60}
	// Nothing moved yet: the pending cluster may go once the proxies split nothing.
	if _, ready, _ := rollbackStep(progress{ActiveCapacity: 100, PendingCapacity: 25}, observed{TrafficApplied: true}, now); !ready {
		t.Fatal("a rollback of nothing waits")
	}
	n, ready, _ := rollbackStep(p, allObserved, now)
	if ready || n.ActiveCapacity != 100 || n.Traffic != 60 {
		t.Fatalf("first step %+v ready %v", n, ready)
	}
	if m, ready, why := rollbackStep(n, observed{TrafficApplied: true}, now); ready || m != n || !strings.Contains(why, "every replica") {
		t.Fatalf("before the active cluster serves: %+v %v %q", m, ready, why)
	}
	m, ready, _ := rollbackStep(n, allObserved, now)
	if ready || m.Traffic != 0 || !m.LastMigrated.Equal(now) {
		t.Fatalf("traffic back: %+v %v", m, ready)
	}
	if _, ready, _ := rollbackStep(m, observed{ActiveServes: true}, now); ready {
		t.Fatal("ready before the proxies took the traffic back")
	}
	if _, ready, _ := rollbackStep(m, allObserved, now); !ready {
		t.Fatal("not ready at the end")
	}
}

func TestIncrementalOptions(t *testing.T) {
	spec := func(o *rayv1.ClusterUpgradeOptions, autoscale bool) *rayv1.RayService {
		rs := &rayv1.RayService{}
		rs.Spec.UpgradeStrategy = &rayv1.RayServiceUpgradeStrategy{Type: ptr.To(rayv1.NewClusterWithIncrementalUpgrade), ClusterUpgradeOptions: o}
		rs.Spec.RayClusterSpec.EnableInTreeAutoscaling = ptr.To(autoscale)
		return rs
	}
	full := &rayv1.ClusterUpgradeOptions{StepSizePercent: ptr.To[int32](10), IntervalSeconds: ptr.To[int32](30), GatewayClassName: "istio"}
	if o, why := incrementalOptions(spec(full, true)); why != "" || o != (upgradeOptions{MaxSurge: 100, Step: 10, Interval: 30 * time.Second}) {
		t.Fatalf("%+v %q", o, why)
	}
	for _, tc := range []struct {
		o         *rayv1.ClusterUpgradeOptions
		autoscale bool
		want      string
	}{
		{full, false, "autoscaler is required"},
		{nil, true, "clusterUpgradeOptions are required"},
		{&rayv1.ClusterUpgradeOptions{IntervalSeconds: ptr.To[int32](30)}, true, "stepSizePercent"},
		{&rayv1.ClusterUpgradeOptions{StepSizePercent: ptr.To[int32](0), IntervalSeconds: ptr.To[int32](30)}, true, "stepSizePercent"},
		{&rayv1.ClusterUpgradeOptions{StepSizePercent: ptr.To[int32](10)}, true, "intervalSeconds"},
		{&rayv1.ClusterUpgradeOptions{StepSizePercent: ptr.To[int32](10), IntervalSeconds: ptr.To[int32](1), MaxSurgePercent: ptr.To[int32](0)}, true, "maxSurgePercent"},
	} {
		if _, why := incrementalOptions(spec(tc.o, tc.autoscale)); !strings.Contains(why, tc.want) {
			t.Errorf("%+v autoscale %v: %q, want %q", tc.o, tc.autoscale, why, tc.want)
		}
	}
}

// The status carries the progress in KubeRay's shape: both clusters'
// capacity and traffic, the migration time on both when traffic moved.
func TestProgressInStatus(t *testing.T) {
	st := &rayv1.RayServiceStatuses{}
	if p := progressOf(st); p != (progress{ActiveCapacity: 100}) {
		t.Fatalf("defaults %+v", p)
	}
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	setProgress(st, progress{ActiveCapacity: 75, PendingCapacity: 50, Traffic: 30, LastMigrated: at})
	a, q := st.ActiveServiceStatus, st.PendingServiceStatus
	if *a.TargetCapacity != 75 || *q.TargetCapacity != 50 || *a.TrafficRoutedPercent != 70 || *q.TrafficRoutedPercent != 30 ||
		!a.LastTrafficMigratedTime.Time.Equal(at) || !q.LastTrafficMigratedTime.Time.Equal(at) {
		t.Fatalf("status %+v %+v", a, q)
	}
	if p := progressOf(st); p != (progress{ActiveCapacity: 75, PendingCapacity: 50, Traffic: 30, LastMigrated: at}) {
		t.Fatalf("read back %+v", p)
	}
	// A capacity change leaves the migration time alone.
	setProgress(st, progress{ActiveCapacity: 50, PendingCapacity: 50, Traffic: 30, LastMigrated: at.Add(time.Hour)})
	if !st.PendingServiceStatus.LastTrafficMigratedTime.Time.Equal(at) {
		t.Fatal("the migration time moved without traffic moving")
	}
}

// KubeRay's RayServiceIncrementalUpgrade gate off: a RayService asking for
// the incremental upgrade gets no new cluster; the other strategies are
// unchanged.
func TestZeroDowntimeWithTheGate(t *testing.T) {
	rs := func(typ *rayv1.RayServiceUpgradeType) *rayv1.RayService {
		s := &rayv1.RayService{}
		if typ != nil {
			s.Spec.UpgradeStrategy = &rayv1.RayServiceUpgradeStrategy{Type: typ}
		}
		return s
	}
	on, off := &Reconciler{}, &Reconciler{DisableIncrementalUpgrade: true}
	for _, tc := range []struct {
		typ     *rayv1.RayServiceUpgradeType
		on, off bool
	}{
		{nil, true, true},
		{ptr.To(rayv1.NewCluster), true, true},
		{ptr.To(rayv1.RayServiceUpgradeNone), false, false},
		{ptr.To(rayv1.NewClusterWithIncrementalUpgrade), true, false},
	} {
		if got := on.zeroDowntime(rs(tc.typ)); got != tc.on {
			t.Errorf("%v, gate on: %v", tc.typ, got)
		}
		if got := off.zeroDowntime(rs(tc.typ)); got != tc.off {
			t.Errorf("%v, gate off: %v", tc.typ, got)
		}
	}
}
