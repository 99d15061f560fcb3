package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/goray-dev/goray/runtime/taskevents"
)

// ActorCount keys Ray's ray_actors series: the actor's class and state.
type ActorCount struct{ Name, State string }

// ClusterCounts is what the GCS knows that Ray's GCS exports: task
// attempts, actors and placement groups by state, nodes by type.
type ClusterCounts struct {
	Tasks           map[taskevents.StateCount]int
	Actors          map[ActorCount]int
	PlacementGroups map[string]int
	// ActiveNodes and FailedNodes count alive and dead nodes by node type
	// (the worker group's name on Kubernetes).
	ActiveNodes, FailedNodes map[string]int
	// Autoscaler is the autoscaler's last report, nil when none runs (or
	// it has not reported for a while): Ray's autoscaler_* series exist
	// only where an autoscaler does.
	Autoscaler *AutoscalerCounts
}

// AutoscalerCounts is the autoscaler's view of the nodes by node type and
// of their resources by name.
type AutoscalerCounts struct {
	Active, Pending, Failed            map[string]int32
	ClusterResources, PendingResources map[string]float64
}

// gcsCollector reports the head's cluster-wide series. Ray's task and
// actor gauges are emitted by many processes and summed by the query
// (sum(ray_tasks) by (State)); here the GCS's history holds every attempt,
// so one process emits the whole count and the same sums hold.
type gcsCollector struct {
	counts func() ClusterCounts

	tasks, actors, pgs, active, failed *prometheus.Desc
	// Ray's autoscaler metrics (python/ray/autoscaler/_private/prom_metrics.py:
	// namespace "autoscaler", no ray_ prefix; SessionName as every series).
	asActive, asPending, asFailed, asResources, asPendingResources *prometheus.Desc
}

// NewGCSCollector reports ray_tasks, ray_actors, ray_placement_groups and
// ray_cluster_{active,failed}_nodes from the GCS of the head at ip.
func NewGCSCollector(ip string, counts func() ClusterCounts) prometheus.Collector {
	core := prometheus.Labels{LabelComponent: "gcs_server", LabelNodeAddress: ip}
	return &gcsCollector{counts: counts,
		tasks: prometheus.NewDesc("ray_tasks", "Current number of tasks (remote functions and actor calls) by state, name and retry.",
			[]string{"Name", "State", "IsRetry"}, core),
		actors: prometheus.NewDesc("ray_actors", "Current number of actors by class name and state.",
			[]string{"Name", "State", "Source"}, core),
		pgs: prometheus.NewDesc("ray_placement_groups", "Current number of placement groups by state.",
			[]string{"State"}, core),
		active: prometheus.NewDesc("ray_cluster_active_nodes", "The number of healthy nodes in the cluster by node type.",
			[]string{"node_type"}, nil),
		failed: prometheus.NewDesc("ray_cluster_failed_nodes", "The number of failed nodes in the cluster by node type.",
			[]string{"node_type"}, nil),
		asActive: prometheus.NewDesc("autoscaler_active_nodes", "Number of nodes in the cluster by node type, as the autoscaler sees them.",
			[]string{"NodeType"}, nil),
		asPending: prometheus.NewDesc("autoscaler_pending_nodes", "Number of nodes the autoscaler asked for that have not joined the cluster yet, by node type.",
			[]string{"NodeType"}, nil),
		asFailed: prometheus.NewDesc("autoscaler_recently_failed_nodes", "Number of nodes whose pods failed, by node type.",
			[]string{"NodeType"}, nil),
		asResources: prometheus.NewDesc("autoscaler_cluster_resources", "Total logical resources of the nodes in the cluster, by resource.",
			[]string{"resource"}, nil),
		asPendingResources: prometheus.NewDesc("autoscaler_pending_resources", "Logical resources of the nodes the autoscaler asked for that have not joined yet, by resource.",
			[]string{"resource"}, nil),
	}
}

func (c *gcsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.tasks, c.actors, c.pgs, c.active, c.failed,
		c.asActive, c.asPending, c.asFailed, c.asResources, c.asPendingResources} {
		ch <- d
	}
}

func (c *gcsCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.counts()
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	for k, v := range n.Tasks {
		gauge(c.tasks, v, k.Name, k.State, retryLabel(k.Retry))
	}
	for k, v := range n.Actors {
		gauge(c.actors, v, k.Name, k.State, "gcs")
	}
	for st, v := range n.PlacementGroups {
		gauge(c.pgs, v, st)
	}
	// Every node type the GCS knows gets both series, 0 when it has no
	// node in that state, as the autoscaler reports its node types.
	types := map[string]bool{}
	for t := range n.ActiveNodes {
		types[t] = true
	}
	for t := range n.FailedNodes {
		types[t] = true
	}
	for t := range types {
		gauge(c.active, n.ActiveNodes[t], t)
		gauge(c.failed, n.FailedNodes[t], t)
	}
	if a := n.Autoscaler; a != nil {
		for _, x := range []struct {
			d *prometheus.Desc
			m map[string]int32
		}{{c.asActive, a.Active}, {c.asPending, a.Pending}, {c.asFailed, a.Failed}} {
			for t, v := range x.m {
				gauge(x.d, int(v), t)
			}
		}
		for r, v := range a.ClusterResources {
			ch <- prometheus.MustNewConstMetric(c.asResources, prometheus.GaugeValue, v, r)
		}
		for r, v := range a.PendingResources {
			ch <- prometheus.MustNewConstMetric(c.asPendingResources, prometheus.GaugeValue, v, r)
		}
	}
}

// retryLabel is Ray's IsRetry: "1" for a retry, "0" for a first attempt.
func retryLabel(retry bool) string {
	if retry {
		return "1"
	}
	return "0"
}
