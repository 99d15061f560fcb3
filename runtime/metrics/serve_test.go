package metrics

import (
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"
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
	lat := make([]uint64, NumLatencyBuckets+1)
	lat[0], lat[3], lat[NumLatencyBuckets] = 2, 1, 1 // ≤1 ms, ≤10 ms, above 5 s
	fams := gather(t, NewReplicaCollector(func() []ReplicaState {
		return []ReplicaState{
			{Application: "a", Deployment: "D", Replica: "D#1", Route: "/a", Healthy: true, Read: true, Processing: 3,
				Requests: 4, Errors: 1, Latency: lat, LatencySumMs: 6001.5},
			{Application: "a", Deployment: "D", Replica: "D#2"}, // starting: health only
		}
	}))
	if got := value(t, fams, "ray_serve_deployment_replica_healthy", "application=a", "deployment=D", "replica=D#1"); got != 1 {
		t.Errorf("healthy replica: %v", got)
	}
	if got := value(t, fams, "ray_serve_deployment_replica_healthy", "replica=D#2"); got != 0 {
		t.Errorf("unhealthy replica: %v", got)
	}
	route := []string{"application=a", "deployment=D", "replica=D#1", "route=/a"}
	for name, want := range map[string]float64{"ray_serve_deployment_request_counter_total": 4, "ray_serve_deployment_error_counter_total": 1} {
		if got := value(t, fams, name, route...); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := value(t, fams, "ray_serve_replica_processing_queries", "replica=D#1"); got != 3 {
		t.Errorf("processing queries %v", got)
	}
	if got := value(t, fams, "ray_serve_deployment_replica_starts_total", "replica=D#1"); got != 1 {
		t.Errorf("starts %v", got)
	}
	h := fams["ray_serve_deployment_processing_latency_ms"].GetMetric()
	if len(h) != 1 {
		t.Fatalf("%d latency series, want 1 (none for a replica not read yet)", len(h))
	}
	hist := h[0].GetHistogram()
	cum := map[float64]uint64{}
	for _, b := range hist.GetBucket() {
		cum[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if hist.GetSampleCount() != 4 || hist.GetSampleSum() != 6001.5 || cum[1] != 2 || cum[5] != 2 || cum[10] != 3 || cum[5000] != 3 {
		t.Errorf("latency histogram: count %d sum %v buckets %v", hist.GetSampleCount(), hist.GetSampleSum(), cum)
	}
}

func TestGRPCProxyRecord(t *testing.T) {
	reg := NewRegistry("session_x")
	p := NewGRPCProxy(reg.Registerer(), "node1", "10.0.0.2")
	start := p.Start()
	if got := value(t, families(t, reg.Gatherer()), "ray_serve_num_ongoing_grpc_requests", "node_id=node1", "node_ip_address=10.0.0.2"); got != 1 {
		t.Fatalf("ongoing %v during a call", got)
	}
	p.Record(start, "app1", "Greeter", "/pkg.Greeter/SayHello", codes.OK)
	p.Record(p.Start(), "app1", "Greeter", "/pkg.Greeter/SayHello", codes.InvalidArgument)
	p.Record(p.Start(), "", "", "OTHER", codes.NotFound)
	fams := families(t, reg.Gatherer())
	for _, c := range []struct {
		name string
		want float64
		ls   []string
	}{
		{"ray_serve_num_ongoing_grpc_requests", 0, nil},
		{"ray_serve_num_grpc_requests_total", 1, []string{"route=app1", "method=/pkg.Greeter/SayHello", "application=app1", "status_code=StatusCode.OK"}},
		{"ray_serve_num_grpc_requests_total", 1, []string{"application=", "method=OTHER", "status_code=StatusCode.NOT_FOUND"}},
		{"ray_serve_grpc_request_latency_ms", 1, []string{"route=app1", "status_code=StatusCode.INVALID_ARGUMENT"}},
		{"ray_serve_num_grpc_error_requests_total", 1, []string{"route=app1", "error_code=StatusCode.INVALID_ARGUMENT"}},
		{"ray_serve_num_deployment_grpc_error_requests_total", 1, []string{"deployment=Greeter", "error_code=StatusCode.INVALID_ARGUMENT"}},
	} {
		if got := value(t, fams, c.name, c.ls...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.ls, got, c.want)
		}
	}
	if n := len(fams["ray_serve_num_grpc_error_requests_total"].GetMetric()); n != 2 {
		t.Errorf("%d error series, want 2: OK is no error", n)
	}
	for c, want := range map[codes.Code]string{codes.OK: "StatusCode.OK", codes.Canceled: "StatusCode.CANCELLED",
		codes.DeadlineExceeded: "StatusCode.DEADLINE_EXCEEDED", codes.Unauthenticated: "StatusCode.UNAUTHENTICATED", 99: "StatusCode.UNKNOWN"} {
		if got := GRPCStatusLabel(c); got != want {
			t.Errorf("GRPCStatusLabel(%v) = %q, want %q", c, got, want)
		}
	}
	var nilP *GRPCProxy
	nilP.Record(nilP.Start(), "a", "b", "c", codes.OK) // no metrics: no panic
}
