package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// LatencyBucketsMs are Ray Serve's default latency histogram boundaries
// (serve/_private/constants.py DEFAULT_LATENCY_BUCKET_MS), in milliseconds.
var LatencyBucketsMs = latencyBucketsMs[:]

var latencyBucketsMs = [...]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000}

// NumLatencyBuckets is len(LatencyBucketsMs), a constant for arrays of counts.
const NumLatencyBuckets = len(latencyBucketsMs)

// Proxy is a serve proxy's request metrics with Ray's names and labels.
// Record is on the request path: a hit costs two map reads without a lock
// (copy-on-write tables) and the library's atomic adds; a label set is
// resolved once, when first seen.
type Proxy struct {
	requests, errors, depErrors *prometheus.CounterVec
	latency                     *prometheus.HistogramVec
	ongoing                     prometheus.Gauge

	mu   sync.Mutex // serializes adding to apps
	apps atomic.Pointer[map[string]*appSeries]
}

// appSeries is one application's series, by method, then status code.
type appSeries struct {
	app, route, deployment string
	mu                     sync.Mutex
	codes                  [len(methods) + 1]atomic.Pointer[map[int]*series]
}

type series struct {
	requests  prometheus.Counter
	latency   prometheus.Observer
	errors    prometheus.Counter // nil for 2xx/3xx: Ray counts non-200 responses, we count >= 400
	depErrors prometheus.Counter
}

// methods are the request methods kept as a method label; any other is
// "OTHER", so that a client cannot grow the label set without bound.
var methods = [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
	http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace}

func methodIndex(m string) int {
	for i, k := range methods {
		if k == m {
			return i
		}
	}
	return len(methods)
}

// NewProxy registers a node's proxy metrics; nodeID and ip label
// ray_serve_num_ongoing_http_requests as Ray's proxy does.
func NewProxy(reg prometheus.Registerer, nodeID, ip string) *Proxy {
	p := &Proxy{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ray_serve_num_http_requests_total",
			Help: "The number of HTTP requests processed."}, []string{"route", "method", "application", "status_code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ray_serve_num_http_error_requests_total",
			Help: "The number of HTTP requests answered with an error status."}, []string{"route", "error_code", "method", "application"}),
		depErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ray_serve_num_deployment_http_error_requests_total",
			Help: "The number of HTTP error responses returned by each deployment."},
			[]string{"deployment", "error_code", "method", "route", "application"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ray_serve_http_request_latency_ms",
			Help: "The end-to-end latency of HTTP requests, measured at the serve proxy, in milliseconds.", Buckets: LatencyBucketsMs},
			[]string{"route", "application", "status_code"}),
		ongoing: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ray_serve_num_ongoing_http_requests",
			Help:        "The number of ongoing requests in the HTTP proxy.",
			ConstLabels: prometheus.Labels{"node_id": nodeID, "node_ip_address": ip}}),
	}
	reg.MustRegister(p.requests, p.errors, p.depErrors, p.latency, p.ongoing)
	empty := map[string]*appSeries{}
	p.apps.Store(&empty)
	return p
}

// Start counts a request in flight; the caller calls Record when it ends.
// A nil Proxy records nothing (a proxy started without metrics).
func (p *Proxy) Start() time.Time {
	if p == nil {
		return time.Time{}
	}
	p.ongoing.Inc()
	return time.Now()
}

// Record ends a request started at start: app, route and deployment are
// the matched application, its route prefix and ingress deployment ("" for
// a path no application serves).
func (p *Proxy) Record(start time.Time, app, route, deployment, method string, code int) {
	if p == nil {
		return
	}
	p.ongoing.Dec()
	s := p.series(app, route, deployment, method, code)
	s.requests.Inc()
	s.latency.Observe(float64(time.Since(start)) / float64(time.Millisecond))
	if s.errors != nil {
		s.errors.Inc()
		if s.depErrors != nil {
			s.depErrors.Inc()
		}
	}
}

func (p *Proxy) series(app, route, deployment, method string, code int) *series {
	a := (*p.apps.Load())[app]
	if a == nil || a.route != route || a.deployment != deployment {
		a = p.addApp(app, route, deployment)
	}
	m := methodIndex(method)
	if s := (*a.codes[m].Load())[code]; s != nil {
		return s
	}
	return p.addSeries(a, m, code)
}

// addApp makes (or replaces, when an application's route or ingress
// changed) an application's table.
func (p *Proxy) addApp(app, route, deployment string) *appSeries {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.apps.Load()
	if a := old[app]; a != nil && a.route == route && a.deployment == deployment {
		return a
	}
	a := &appSeries{app: app, route: route, deployment: deployment}
	for i := range a.codes {
		empty := map[int]*series{}
		a.codes[i].Store(&empty)
	}
	next := make(map[string]*appSeries, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[app] = a
	p.apps.Store(&next)
	return a
}

func (p *Proxy) addSeries(a *appSeries, m, code int) *series {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := *a.codes[m].Load()
	if s := old[code]; s != nil {
		return s
	}
	method := "OTHER"
	if m < len(methods) {
		method = methods[m]
	}
	c := strconv.Itoa(code)
	s := &series{requests: p.requests.WithLabelValues(a.route, method, a.app, c), latency: p.latency.WithLabelValues(a.route, a.app, c)}
	if code >= 400 {
		s.errors = p.errors.WithLabelValues(a.route, c, method, a.app)
		if a.deployment != "" {
			s.depErrors = p.depErrors.WithLabelValues(a.deployment, c, method, a.route, a.app)
		}
	}
	next := make(map[int]*series, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[code] = s
	a.codes[m].Store(&next)
	return s
}

// ReplicaState is one serve replica as the controller sees it: its health,
// and what it last said it served (Stats, read a few times a second).
type ReplicaState struct {
	Application, Deployment, Replica string
	// Route is its application's route prefix (Ray's route label).
	Route   string
	Healthy bool
	// Read: Stats have been read since it started; the rest is theirs.
	Read             bool
	Processing       int
	Requests, Errors int64
	// Latency counts requests by processing time: one count per bucket of
	// LatencyBucketsMs and one above the last.
	Latency      []uint64
	LatencySumMs float64
}

// replicaCollector reports the replicas' series from the serve
// controller's replica table, at scrape time: Ray's replicas export them
// from their own processes; goray's report them to the controller, which
// reads them with the load it scales on, so one port (the head's) has them.
type replicaCollector struct {
	replicas                                   func() []ReplicaState
	healthy, requests, errors, latency, active *prometheus.Desc
	starts                                     *prometheus.Desc
}

// NewReplicaCollector reports each replica's health (1 healthy, 0 not),
// requests, errors, processing latency, requests in progress and starts,
// with Ray's names and labels (python/ray/serve/_private/replica.py).
func NewReplicaCollector(replicas func() []ReplicaState) prometheus.Collector {
	perReplica := []string{"deployment", "replica", "application"}
	perRoute := []string{"deployment", "replica", "route", "application"}
	return &replicaCollector{replicas: replicas,
		healthy: prometheus.NewDesc("ray_serve_deployment_replica_healthy",
			"Whether a deployment replica is healthy: 1 healthy, 0 unhealthy.", perReplica, nil),
		requests: prometheus.NewDesc("ray_serve_deployment_request_counter_total",
			"The number of queries that have been processed in this replica.", perRoute, nil),
		errors: prometheus.NewDesc("ray_serve_deployment_error_counter_total",
			"The number of exceptions that have occurred in this replica (answers with a status of 500 or more).", perRoute, nil),
		latency: prometheus.NewDesc("ray_serve_deployment_processing_latency_ms",
			"The latency for queries to be processed.", perRoute, nil),
		active: prometheus.NewDesc("ray_serve_replica_processing_queries",
			"The current number of queries being processed.", perReplica, nil),
		starts: prometheus.NewDesc("ray_serve_deployment_replica_starts_total",
			"The number of times this replica has been started.", perReplica, nil),
	}
}

func (c *replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.healthy, c.requests, c.errors, c.latency, c.active, c.starts} {
		ch <- d
	}
}

func (c *replicaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.replicas() {
		v := 0.0
		if r.Healthy {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, v, r.Deployment, r.Replica, r.Application)
		if !r.Read || len(r.Latency) != NumLatencyBuckets+1 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.starts, prometheus.CounterValue, 1, r.Deployment, r.Replica, r.Application)
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(r.Processing), r.Deployment, r.Replica, r.Application)
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(r.Requests), r.Deployment, r.Replica, r.Route, r.Application)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(r.Errors), r.Deployment, r.Replica, r.Route, r.Application)
		buckets := make(map[float64]uint64, NumLatencyBuckets)
		var n uint64
		for i, le := range LatencyBucketsMs {
			n += r.Latency[i]
			buckets[le] = n
		}
		n += r.Latency[NumLatencyBuckets]
		ch <- prometheus.MustNewConstHistogram(c.latency, n, r.LatencySumMs, buckets, r.Deployment, r.Replica, r.Route, r.Application)
	}
}
