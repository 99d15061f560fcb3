package metricnames

import (
	"strings"
	"testing"
)

const scrape = `# HELP ray_tasks Tasks.
# TYPE ray_tasks gauge
ray_tasks{Component="gcs_server",IsRetry="0",Name="sq\"uare",NodeAddress="127.0.0.1",SessionName="s",State="FINISHED"} 4
# TYPE ray_serve_http_request_latency_ms histogram
ray_serve_http_request_latency_ms_bucket{SessionName="s",application="a",route="/",status_code="200",le="1"} 1
ray_serve_http_request_latency_ms_bucket{SessionName="s",application="a",route="/",status_code="200",le="+Inf"} 1
ray_serve_http_request_latency_ms_sum{SessionName="s",application="a",route="/",status_code="200"} 0.5
ray_serve_http_request_latency_ms_count{SessionName="s",application="a",route="/",status_code="200"} 1
# TYPE ray_node_cpu_count gauge
ray_node_cpu_count{IsHeadNode="true",SessionName="s"} 2
`

func TestParseAndCheck(t *testing.T) {
	fams, err := Parse(scrape)
	if err != nil {
		t.Fatal(err)
	}
	if v := fams["ray_tasks"].Series[0].Labels["Name"]; v != `sq"uare` {
		t.Errorf("escaped label value parsed as %q", v)
	}
	if n := len(fams["ray_serve_http_request_latency_ms"].Series); n != 4 {
		t.Errorf("histogram has %d series, want 4", n)
	}
	want := []Metric{
		{Name: "ray_tasks", Type: "gauge", Labels: []string{"Component", "IsRetry", "Name", "NodeAddress", "SessionName", "State"}},
		{Name: "ray_serve_http_request_latency_ms", Type: "histogram", Labels: []string{"SessionName", "application", "route", "status_code"}},
	}
	if errs := Check(fams, want); len(errs) != 0 {
		t.Errorf("check: %v", errs)
	}
	bad := []Metric{
		{Name: "ray_node_cpu_count", Type: "gauge", Labels: []string{"IsHeadNode", "SessionName", "ip"}},
		{Name: "ray_tasks", Type: "counter", Labels: want[0].Labels},
		{Name: "ray_actors", Type: "gauge"},
	}
	errs := Check(fams, bad)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	all := strings.Join(msgs, "\n")
	for _, w := range []string{"ray_node_cpu_count: series ray_node_cpu_count has labels [IsHeadNode SessionName], want [IsHeadNode SessionName ip]",
		"ray_tasks: type gauge, want counter", "ray_actors: not exported"} {
		if !strings.Contains(all, w) {
			t.Errorf("check errors lack %q:\n%s", w, all)
		}
	}
}

func TestExpectedIsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Expected() {
		if seen[m.Name] {
			t.Errorf("%s listed twice", m.Name)
		}
		seen[m.Name] = true
		switch m.Type {
		case "gauge", "counter", "histogram":
		default:
			t.Errorf("%s: type %q", m.Name, m.Type)
		}
		switch m.Where {
		case "head", "node", "serve", "error", "autoscaler", "operator":
		default:
			t.Errorf("%s: where %q", m.Name, m.Where)
		}
		if m.Type == "counter" && !strings.HasSuffix(m.Name, "_total") {
			t.Errorf("%s: a counter's name ends in _total", m.Name)
		}
	}
	for _, n := range []string{"ray_tasks", "ray_actors", "ray_object_store_memory", "ray_node_cpu_utilization", "ray_resources",
		"ray_serve_num_http_requests_total", "ray_serve_http_request_latency_ms", "ray_serve_deployment_replica_healthy",
		"kuberay_job_execution_duration_seconds", "kuberay_service_condition_ready"} {
		if !seen[n] {
			t.Errorf("%s is not listed", n)
		}
	}
	if !Known("ray_serve_http_request_latency_ms_bucket") || Known("ray_tasks_bucket") || Known("ray_nothing") {
		t.Error("Known: histogram series are known, others' suffixes and unlisted names not")
	}
}
