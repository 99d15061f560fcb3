// Package metrics is what a goray node exports on its metrics port
// (`goray start --metrics-export-port`, 8080 by default): Ray's metric
// names, types and labels (docs.ray.io "System Metrics" and Ray Serve's
// monitoring page), so Ray's Grafana dashboards, KubeRay's PodMonitors and
// a Ray user's queries work on a goray cluster unchanged.
//
// Every value is read when Prometheus scrapes (collectors over the node's
// own state, the GCS's tables on the head, /proc for the machine), except
// serve's request counters and latencies, which the proxy records per
// request with atomic counters (serve.go). Nothing here adds work to a
// task's path.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Ray's common labels. SessionName is on every ray_* series; the core
// metrics (GCS and raylet) add Component and NodeAddress, the node's
// hardware metrics ip and IsHeadNode, as Ray's exporters do.
const (
	LabelSession     = "SessionName"
	LabelComponent   = "Component"
	LabelNodeAddress = "NodeAddress"
	LabelIP          = "ip"
	LabelIsHeadNode  = "IsHeadNode"
)

// Registry is one node process's metrics.
type Registry struct {
	reg *prometheus.Registry
	// ray registers ray_* metrics with the session's label added.
	ray prometheus.Registerer
}

// NewRegistry makes a node's registry: the Go runtime and process
// collectors (what the port served before it had Ray's metrics), and
// session for Ray's SessionName label.
func NewRegistry(session string) *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Registry{reg: reg, ray: prometheus.WrapRegistererWith(prometheus.Labels{LabelSession: session}, reg)}
}

// Registerer registers ray_* metrics (they get the SessionName label).
func (r *Registry) Registerer() prometheus.Registerer { return r.ray }

// Gatherer is the registry, for tests and for the handler.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the registry in Prometheus' text (or OpenMetrics) format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}
