package metrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// GRPCProxy is a serve gRPC proxy's call metrics with Ray's names and
// labels (ray_serve_num_grpc_requests_total and the like): as in Ray's
// gRPC proxy, route is the application's name and status_code Python's
// name of the code ("StatusCode.OK").
type GRPCProxy struct {
	requests, errors, depErrors *prometheus.CounterVec
	latency                     *prometheus.HistogramVec
	ongoing                     prometheus.Gauge
}

// NewGRPCProxy registers a node's gRPC proxy metrics.
func NewGRPCProxy(reg prometheus.Registerer, nodeID, ip string) *GRPCProxy {
	p := &GRPCProxy{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ray_serve_num_grpc_requests_total",
			Help: "The number of gRPC requests processed."}, []string{"route", "method", "application", "status_code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ray_serve_num_grpc_error_requests_total",
			Help: "The number of gRPC requests answered with a status other than OK."}, []string{"route", "error_code", "method", "application"}),
		depErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ray_serve_num_deployment_grpc_error_requests_total",
			Help: "The number of gRPC error responses returned by each deployment."},
			[]string{"deployment", "error_code", "method", "route", "application"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ray_serve_grpc_request_latency_ms",
			Help: "The end-to-end latency of gRPC requests, measured at the serve gRPC proxy, in milliseconds.", Buckets: LatencyBucketsMs},
			[]string{"route", "application", "status_code"}),
		ongoing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ray_serve_num_ongoing_grpc_requests",
			Help:        "The number of ongoing requests in the gRPC proxy.",
			ConstLabels: prometheus.Labels{"node_id": nodeID, "node_ip_address": ip}}),
	}
	reg.MustRegister(p.requests, p.errors, p.depErrors, p.latency, p.ongoing)
	return p
}

// Start counts a call in flight; the caller calls Record when it ends. A
// nil GRPCProxy records nothing.
func (p *GRPCProxy) Start() time.Time {
	if p == nil {
		return time.Time{}
	}
	p.ongoing.Inc()
	return time.Now()
}

// Record ends a call started at start: app and deployment are the
// application it went to and its ingress deployment ("" for a call no
// application took), method the full method (the caller keeps it to
// methods that exist: a client picks it).
func (p *GRPCProxy) Record(start time.Time, app, deployment, method string, code codes.Code) {
	if p == nil {
		return
	}
	p.ongoing.Dec()
	c := GRPCStatusLabel(code)
	p.requests.WithLabelValues(app, method, app, c).Inc()
	p.latency.WithLabelValues(app, app, c).Observe(float64(time.Since(start)) / float64(time.Millisecond))
	if code != codes.OK {
		p.errors.WithLabelValues(app, c, method, app).Inc()
		if deployment != "" {
			p.depErrors.WithLabelValues(deployment, c, method, app, app).Inc()
		}
	}
}

// GRPCStatusLabel is Python's str() of a grpc.StatusCode, Ray's label:
// "StatusCode.NOT_FOUND".
func GRPCStatusLabel(c codes.Code) string {
	if c > codes.Unauthenticated {
		return "StatusCode.UNKNOWN"
	}
	if c == codes.Canceled {
		return "StatusCode.CANCELLED" // Python's spelling
	}
	name := c.String() // "NotFound"; "OK"
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' && name[i-1] >= 'a' && name[i-1] <= 'z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return "StatusCode." + strings.ToUpper(b.String())
}
