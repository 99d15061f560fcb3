package metrics

import (
	"net/http"
	"testing"
)

func TestProxyRecord(t *testing.T) {
	reg := NewRegistry("session_x")
	p := NewProxy(reg.Registerer(), "node1", "10.0.0.2")
	start := p.Start()
	if got := value(t, families(t, reg.Gatherer()), "ray_serve_num_ongoing_http_requests", "node_id=node1", "node_ip_address=10.0.0.2"); got != 1 {
		t.Fatalf("ongoing %v during a request", got)
	}
	p.Record(start, "app1", "/app1", "Ingress", http.MethodGet, 200)
	p.Record(p.Start(), "app1", "/app1", "Ingress", http.MethodGet, 200)
	p.Record(p.Start(), "app1", "/app1", "Ingress", "BREW", 500)
	p.Record(p.Start(), "", "", "", http.MethodGet, 404)
	fams := families(t, reg.Gatherer())
	s := "SessionName=session_x"
	for _, c := range []struct {
		name string
		want float64
		ls   []string
	}{
		{"ray_serve_num_ongoing_http_requests", 0, nil},
		{"ray_serve_num_http_requests_total", 2, []string{"route=/app1", "method=GET", "application=app1", "status_code=200"}},
		{"ray_serve_num_http_requests_total", 1, []string{"method=OTHER", "status_code=500"}},
		{"ray_serve_num_http_requests_total", 1, []string{"application=", "status_code=404"}},
		{"ray_serve_http_request_latency_ms", 2, []string{"route=/app1", "application=app1", "status_code=200"}},
		{"ray_serve_num_http_error_requests_total", 1, []string{"route=/app1", "error_code=500", "method=OTHER", "application=app1"}},
		{"ray_serve_num_deployment_http_error_requests_total", 1, []string{"deployment=Ingress", "error_code=500", "application=app1"}},
	} {
		if got := value(t, fams, c.name, append(c.ls, s)...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.ls, got, c.want)
		}
	}
	if n := len(fams["ray_serve_num_http_error_requests_total"].GetMetric()); n != 2 {
		t.Errorf("%d error series, want 2 (500 and 404): a 200 is no error", n)
	}
	// An application redeployed on another route gets its own series.
	p.Record(p.Start(), "app1", "/v2", "Ingress", http.MethodGet, 200)
	value(t, families(t, reg.Gatherer()), "ray_serve_num_http_requests_total", "route=/v2", "application=app1")
}

// TestProxyRecordAllocs: once a label set was seen, recording a request
// allocates nothing (the proxy's request path is benchmarked).
func TestProxyRecordAllocs(t *testing.T) {
	p := NewProxy(NewRegistry("s").Registerer(), "n", "ip")
	p.Record(p.Start(), "app", "/", "D", http.MethodPost, 200)
	if n := testing.AllocsPerRun(100, func() { p.Record(p.Start(), "app", "/", "D", http.MethodPost, 200) }); n != 0 {
		t.Errorf("%v allocations per recorded request", n)
	}
}

func TestNilProxyRecordsNothing(t *testing.T) {
	var p *Proxy
	p.Record(p.Start(), "app", "/", "D", http.MethodGet, 200)
}

func BenchmarkProxyRecord(b *testing.B) {
	p := NewProxy(NewRegistry("s").Registerer(), "n", "ip")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Record(p.Start(), "app", "/", "D", http.MethodGet, 200)
		}
	})
}

func TestReplicaCollector(t *testing.T) {
	fams := gather(t, NewReplicaCollector(func() []ReplicaHealth {
		return []ReplicaHealth{{Application: "a", Deployment: "D", Replica: "D#1", Healthy: true}, {Application: "a", Deployment: "D", Replica: "D#2"}}
	}))
	if got := value(t, fams, "ray_serve_deployment_replica_healthy", "application=a", "deployment=D", "replica=D#1"); got != 1 {
		t.Errorf("healthy replica: %v", got)
	}
	if got := value(t, fams, "ray_serve_deployment_replica_healthy", "replica=D#2"); got != 0 {
		t.Errorf("unhealthy replica: %v", got)
	}
}
