package metricnames

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDashboardsUseExportedMetrics: every metric config/grafana's
// dashboards query is one goray exports (in expected.txt, which the scrape
// tests check against real nodes and a real operator).
func TestDashboardsUseExportedMetrics(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "config", "grafana", "*.json"))
	if err != nil || len(files) < 2 {
		t.Fatalf("dashboards: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		names, err := DashboardMetrics(b)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(names) < 5 {
			t.Errorf("%s reads only %v", f, names)
		}
		for _, n := range names {
			if !Known(n) {
				t.Errorf("%s queries %s, which goray does not export", filepath.Base(f), n)
			}
		}
	}
}

func TestDashboardMetrics(t *testing.T) {
	d := []byte(`{"templating":{"list":[{"query":{"query":"label_values(ray_node_cpu_count{SessionName!=\"\"}, SessionName)"}},{"query":"prometheus"}]},
	"panels":[{"targets":[{"expr":"histogram_quantile(0.9, sum by (le) (rate(ray_serve_http_request_latency_ms_bucket{a=\"b\"}[5m])))"}]},
	{"panels":[{"targets":[{"expr":"sum(ray_tasks{State=\"RUNNING\"}) / on() count(ray_actors{x=\"y\"})"}]}]}]}`)
	got, err := DashboardMetrics(d)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ray_actors", "ray_node_cpu_count", "ray_serve_http_request_latency_ms_bucket", "ray_tasks"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if _, err := DashboardMetrics([]byte(`{"panels":[{"targets":[{"expr":"sum(ray_tasks)"}]}]}`)); err == nil {
		t.Error("a bare metric name passed")
	}
}
