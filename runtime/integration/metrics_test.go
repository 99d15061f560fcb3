package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/goray-dev/goray/internal/metricnames"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
	"github.com/goray-dev/goray/runtime/serve"
	"github.com/goray-dev/goray/runtime/serve/client"
)

// itMetrics answers 500 on /fail and 200 elsewhere: the proxies then have
// both successes and errors to count.
var itMetrics = serve.Deployment("ItMetrics", func(ctx context.Context, _ struct{}) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/fail") {
			http.Error(w, "failing on purpose", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}), nil
}, serve.NumReplicas(1), serve.NumCPUs(0.1))

var _ = serve.Application("it.metrics", itMetrics)

var nodeIPs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

func scrapeNode(t *testing.T, ip string) metricnames.Families {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s:%d/metrics", ip, metricsPorts[ip]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %d %v", ip, resp.StatusCode, err)
	}
	fams, err := metricnames.Parse(string(b))
	if err != nil {
		t.Fatalf("scrape %s: %v", ip, err)
	}
	return fams
}

// sum adds the values of name's series whose labels include want.
func sum(fams metricnames.Families, name string, want map[string]string) float64 {
	total := 0.0
	f := fams[name]
	if base, ok := strings.CutSuffix(name, "_count"); ok && f == nil {
		f = fams[base] // a histogram's count series
	}
	if f == nil {
		return 0
	}
	for _, s := range f.Series {
		match := s.Name == name
		for k, v := range want {
			match = match && s.Labels[k] == v
		}
		if match {
			v, _ := strconv.ParseFloat(s.Value, 64)
			total += v
		}
	}
	return total
}

// TestMetricsOfEveryNode: after tasks, an actor, a placement group and a
// serve application with successes and errors, every node's metrics port
// exports Ray's metrics with Ray's types and exact labels (the list in
// internal/metricnames, from Ray's docs), the head the cluster-wide ones
// too, and the values say what ran.
func TestMetricsOfEveryNode(t *testing.T) {
	ctx := context.Background()
	var refs []ray.Ref[string]
	for i := 0; i < 6; i++ {
		refs = append(refs, whereAmI.Remote(ctx, 10, ray.SchedulingSpread()))
	}
	if _, err := ray.GetAll(ctx, refs...); err != nil {
		t.Fatal(err)
	}
	h, err := stateful.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Release) // its handle keeps it ALIVE for the scrape below
	if _, err := ray.Get(ctx, actorWhere.Remote(ctx, h)); err != nil {
		t.Fatal(err)
	}
	pg, err := ray.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 0.1}}, "PACK")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ray.RemovePlacementGroup(context.Background(), pg) })
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}

	// The head runs serve binaries from its directories only: this test
	// binary, which registers it.metrics, goes next to the goray binary.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(filepath.Dir(gorayBin), "it-metrics")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	api := client.New("http://" + dashboardAddress)
	cfg, _ := json.Marshal(map[string]any{"applications": []any{map[string]any{"name": "metrics", "route_prefix": "/m",
		"import_path": "it.metrics", "runtime_env": map[string]any{"binary": bin}}}})
	if err := api.PutJSON(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Delete(context.Background()) })
	awaitFor(t, 90*time.Second, "the serve application RUNNING", func() bool {
		d, err := api.Get(ctx)
		return err == nil && d.Applications["metrics"] != nil && d.Applications["metrics"].Status == "RUNNING"
	})
	for _, ip := range nodeIPs {
		for path, code := range map[string]int{"/m/": 200, "/m/fail": 500, "/nowhere": 404} {
			awaitFor(t, 30*time.Second, fmt.Sprintf("%s%s answering %d", ip, path, code), func() bool {
				resp, err := http.Get(fmt.Sprintf("http://%s:%d%s", ip, servePorts[ip], path))
				if err != nil {
					return false
				}
				_ = resp.Body.Close()
				return resp.StatusCode == code
			})
		}
	}

	// The autoscaler sidecar reports its view of the nodes to the GCS each
	// round (internal/autoscaler); the head exports Ray's autoscaler_* from it.
	conn, err := grpc.NewClient(gcsAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := rpcpb.NewGcsClient(conn).ReportAutoscalingState(ctx, &rpcpb.AutoscalingState{TimestampMs: time.Now().UnixMilli(),
		ClusterName: "it/metrics", LastDecision: "no change", ActiveNodes: map[string]int32{"headgroup": 1, "workers": 2},
		PendingNodes: map[string]int32{"headgroup": 0, "workers": 1}, FailedNodes: map[string]int32{"headgroup": 0, "workers": 0},
		ClusterResources: map[string]float64{"CPU": 5}, PendingResources: map[string]float64{"CPU": 2}}); err != nil {
		t.Fatal(err)
	}

	// Task events reach the GCS in batches, once a second.
	awaitFor(t, 30*time.Second, "the tasks' events in the GCS", func() bool {
		return sum(scrapeNode(t, "127.0.0.1"), "ray_tasks", map[string]string{"Name": "it.where", "State": "FINISHED"}) >= 6
	})
	// Replicas report what they served with their load, a few times a
	// second; every node's proxy sent them a 200 and a 500.
	app := map[string]string{"application": "metrics", "deployment": "ItMetrics", "route": "/m"}
	awaitFor(t, 10*time.Second, "the replicas' counts on the head", func() bool {
		h := scrapeNode(t, "127.0.0.1")
		return sum(h, "ray_serve_deployment_request_counter_total", app) >= float64(2*len(nodeIPs)) &&
			sum(h, "ray_serve_deployment_error_counter_total", app) >= float64(len(nodeIPs))
	})
	session := ""
	for _, ip := range nodeIPs {
		scrapeNode(t, ip) // rates are over the time since the previous scrape
		fams := scrapeNode(t, ip)
		where := []string{"node", "serve", "error"}
		if ip == "127.0.0.1" {
			where = append(where, "head", "autoscaler")
		}
		for _, err := range metricnames.Check(fams, metricnames.Where(where...)) {
			t.Errorf("node %s: %v", ip, err)
		}
		for _, s := range fams["ray_node_cpu_count"].Series {
			if s.Labels["ip"] != ip || s.Labels["IsHeadNode"] != strconv.FormatBool(ip == "127.0.0.1") {
				t.Errorf("node %s: ray_node_cpu_count labelled %v", ip, s.Labels)
			}
			if session == "" {
				session = s.Labels["SessionName"]
			} else if s.Labels["SessionName"] != session {
				t.Errorf("node %s: session %q, another node's %q", ip, s.Labels["SessionName"], session)
			}
		}
		cpus := map[string]float64{"127.0.0.1": 1, "127.0.0.2": 2, "127.0.0.3": 2}[ip]
		if got := sum(fams, "ray_resources", map[string]string{"Name": "CPU", "NodeAddress": ip}); got != cpus {
			t.Errorf("node %s: ray_resources{Name=CPU} USED+AVAILABLE = %v, want its %v CPUs", ip, got, cpus)
		}
		ok := map[string]string{"application": "metrics", "route": "/m", "method": "GET", "status_code": "200"}
		if got := sum(fams, "ray_serve_num_http_requests_total", ok); got < 1 {
			t.Errorf("node %s: %v requests counted for %v", ip, got, ok)
		}
		fail := map[string]string{"application": "metrics", "error_code": "500", "deployment": "ItMetrics"}
		if got := sum(fams, "ray_serve_num_deployment_http_error_requests_total", fail); got < 1 {
			t.Errorf("node %s: %v deployment errors counted for %v", ip, got, fail)
		}
		if got := sum(fams, "ray_serve_http_request_latency_ms_count", map[string]string{"application": "", "status_code": "404"}); got < 1 {
			t.Errorf("node %s: no latency observed of a request no application serves", ip)
		}
	}
	if !strings.HasPrefix(session, "session_") {
		t.Errorf("SessionName %q", session)
	}

	head := scrapeNode(t, "127.0.0.1")
	for _, c := range []struct {
		name string
		ls   map[string]string
		min  float64
	}{
		{"ray_tasks", map[string]string{"Name": "it.where", "State": "FINISHED", "IsRetry": "0"}, 6},
		{"ray_actors", map[string]string{"Name": "it.Stateful", "State": "ALIVE", "Source": "gcs"}, 1},
		{"ray_placement_groups", map[string]string{"State": "CREATED"}, 1},
		{"ray_cluster_active_nodes", map[string]string{"node_type": "group-127.0.0.2"}, 1},
		{"ray_serve_deployment_replica_healthy", map[string]string{"application": "metrics", "deployment": "ItMetrics"}, 1},
		{"ray_serve_deployment_processing_latency_ms_count", app, float64(2 * len(nodeIPs))},
		{"ray_serve_deployment_replica_starts_total", map[string]string{"application": "metrics", "deployment": "ItMetrics"}, 1},
		{"autoscaler_active_nodes", map[string]string{"NodeType": "workers"}, 2},
		{"autoscaler_pending_nodes", map[string]string{"NodeType": "workers"}, 1},
		{"autoscaler_pending_resources", map[string]string{"resource": "CPU"}, 2},
	} {
		if got := sum(head, c.name, c.ls); got < c.min {
			t.Errorf("head: %s%v = %v, want at least %v", c.name, c.ls, got, c.min)
		}
	}
	if got := sum(head, "ray_cluster_active_nodes", nil); got < 3 {
		t.Errorf("head: %v active nodes, want the 3 the cluster has", got)
	}
}

// awaitFor polls cond until it holds, failing the test after d (a bound
// on waiting for the cluster, not a performance check).
func awaitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
