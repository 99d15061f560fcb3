package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/serve/client"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

func do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, dashboard+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// PUT, GET (both api_types, with and without the trailing slash) and DELETE.
func TestRESTEndpoints(t *testing.T) {
	// Before any deploy: the empty ServeInstanceDetails.
	code, body := do(t, "GET", "/api/serve/applications/", "")
	var d schema.ServeInstanceDetails
	if err := json.Unmarshal([]byte(body), &d); code != 200 || err != nil || len(d.Applications) != 0 || d.DeployMode != "MULTI_APP" {
		t.Fatalf("GET before deploy: %d %s", code, body)
	}
	cfg := `{"applications":[{"name":"rest","route_prefix":"/rest","import_path":"hello",
		"deployments":[{"name":"Hello","num_replicas":2,"user_config":{"greeting":"rest"}},{"name":"Echo","num_replicas":1}]}],
		"target_capacity":50}`
	if code, body := do(t, "PUT", "/api/serve/applications/", cfg); code != 200 || body != "" {
		t.Fatalf("PUT: %d %q", code, body)
	}
	t.Cleanup(func() { shutdown(t) })
	st := waitFor(t, "rest RUNNING", appRunning("rest"))
	a := st.Applications["rest"]
	if *a.RoutePrefix != "/rest" || a.Source != "declarative" || a.DeployedAppConfig.ImportPath != "hello" || a.LastDeployedTimeS == 0 {
		t.Errorf("application details: %+v", a)
	}
	// target_capacity 50 halves Hello's 2 replicas (rounding up: Echo keeps 1).
	if n := a.Deployments["Hello"].TargetNumReplicas; n != 1 {
		t.Errorf("Hello target at target_capacity 50 = %d, want 1", n)
	}
	if st.TargetCapacity == nil || *st.TargetCapacity != 50 {
		t.Errorf("target_capacity = %v", st.TargetCapacity)
	}
	h := a.Deployments["Hello"]
	if h.Status != schema.DepHealthy || h.DeploymentConfig.MaxOngoingRequests != 5 || h.DeploymentConfig.HealthCheckPeriodS != 10 ||
		string(h.DeploymentConfig.UserConfig) != `{"greeting":"rest"}` || h.Replicas[0].State != schema.ReplicaRunning || h.Replicas[0].PID == 0 {
		t.Errorf("Hello details: %+v", h)
	}
	for _, path := range []string{"/api/serve/applications/?api_type=declarative", "/api/serve/applications", "/api/serve/applications/?api_type=imperative"} {
		code, body := do(t, "GET", path, "")
		var d schema.ServeInstanceDetails
		if err := json.Unmarshal([]byte(body), &d); code != 200 || err != nil {
			t.Fatalf("GET %s: %d %s", path, code, body)
		}
		if _, ok := d.Applications["rest"]; ok == strings.Contains(path, "imperative") {
			t.Errorf("GET %s: applications %v", path, d.Applications)
		}
	}
	if code, _ := do(t, "GET", "/api/serve/applications/?api_type=bogus", ""); code != 400 {
		t.Errorf("GET with a bad api_type: %d, want 400", code)
	}
	waitForBody(t, proxyURL(workerIP, "/rest"), "rest")
	// The Go client and the proxy probe the RayService controller uses.
	c := client.New(strings.TrimPrefix(dashboard, "http://"))
	got, err := c.Get(context.Background())
	if err != nil || !client.AllRunning(got) {
		t.Fatalf("client.Get: %v %v", err, got)
	}
	if err := client.ProxyHealthz(context.Background(), workerIP, servePort); err != nil {
		t.Errorf("ProxyHealthz: %v", err)
	}
	// DELETE shuts everything down.
	if code, body := do(t, "DELETE", "/api/serve/applications/", ""); code != 200 {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if d := status(t); len(d.Applications) != 0 {
		t.Errorf("applications after DELETE: %v", d.Applications)
	}
	waitForCode(t, proxyURL(workerIP, "/rest"), http.StatusNotFound)
}

// Bad configs are answered 400 with what is wrong, and the running
// applications stay exactly as they were.
func TestRESTBadConfigs(t *testing.T) {
	deploy(t, helloConfig)
	t.Cleanup(func() { shutdown(t) })
	before := waitFor(t, "hello RUNNING", appRunning("hello"))
	// The proxies follow the routing table by polling: RUNNING in the
	// status can come before the worker's proxy routes it.
	waitForBody(t, proxyURL(workerIP, "/echo"), "hi there")
	ids := func(d *schema.ServeInstanceDetails) string {
		var s []string
		for _, dd := range d.Applications["hello"].Deployments {
			for _, r := range dd.Replicas {
				s = append(s, r.ReplicaID)
			}
		}
		sort.Strings(s)
		b, _ := json.Marshal(s)
		return string(b)
	}
	app := func(extra string) string {
		return `{"name":"x","route_prefix":"/x","import_path":"hello"` + extra + `}`
	}
	cases := []struct{ name, body, want string }{
		{"not JSON", `{"applications": [`, "invalid ServeDeploySchema"},
		{"no applications", `{}`, "applications: field required"},
		{"unknown field", `{"applications":[], "bogus": 1}`, `unknown field "bogus"`},
		{"duplicate names", `{"applications":[` + app("") + `,{"name":"x","route_prefix":"/y","import_path":"hello"}]}`, "names must be unique"},
		{"empty name", `{"applications":[{"name":"","route_prefix":"/e","import_path":"hello"}]}`, "non-empty"},
		{"duplicate route prefixes", `{"applications":[` + app("") + `,{"name":"y","route_prefix":"/x","import_path":"hello"}]}`, "route prefixes must be unique"},
		{"route without leading slash", `{"applications":[{"name":"x","route_prefix":"x","import_path":"hello"}]}`, "must start with '/'"},
		{"route with trailing slash", `{"applications":[{"name":"x","route_prefix":"/x/","import_path":"hello"}]}`, "must not end with '/'"},
		{"missing import_path", `{"applications":[{"name":"x","route_prefix":"/x"}]}`, "import_path: field required"},
		{"num_replicas with autoscaling_config", `{"applications":[` + app(`,"deployments":[{"name":"Hello","num_replicas":2,"autoscaling_config":{"max_replicas":3}}]`) + `]}`, "num_replicas is not allowed when autoscaling_config"},
		{"bad num_replicas", `{"applications":[` + app(`,"deployments":[{"name":"Hello","num_replicas":"many"}]`) + `]}`, "num_replicas"},
		{"min above max", `{"applications":[` + app(`,"deployments":[{"name":"Hello","autoscaling_config":{"min_replicas":5,"max_replicas":2}}]`) + `]}`, "max_replicas (2) must be >= min_replicas (5)"},
		{"target_capacity above 100", `{"applications":[],"target_capacity":150}`, "target_capacity"},
		{"max_queued_requests 0", `{"applications":[` + app(`,"deployments":[{"name":"Hello","max_queued_requests":0}]`) + `]}`, "max_queued_requests"},
		{"max_ongoing_requests 0", `{"applications":[` + app(`,"deployments":[{"name":"Hello","max_ongoing_requests":0}]`) + `]}`, "max_ongoing_requests"},
		{"max_replicas_per_node 0", `{"applications":[` + app(`,"deployments":[{"name":"Hello","max_replicas_per_node":0}]`) + `]}`, "max_replicas_per_node"},
		{"missing binary", `{"applications":[` + app(`,"runtime_env":{"binary":"/nonexistent/app"}`) + `]}`, "does not exist"},
		{"bad proxy_location", `{"applications":[],"proxy_location":"Everywhere"}`, "proxy_location"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := do(t, "PUT", "/api/serve/applications/", c.body)
			if code != 400 || !strings.Contains(body, c.want) {
				t.Errorf("PUT %s: %d %q, want 400 containing %q", c.body, code, body, c.want)
			}
		})
	}
	// The CLI's client reports the same as a bad-config error.
	err := client.New(dashboard).PutJSON(context.Background(), []byte(`{"applications":[{"name":"x","route_prefix":"x","import_path":"hello"}]}`))
	if !client.IsBadConfig(err) {
		t.Errorf("client.PutJSON of a bad config: %v, want a 400", err)
	}
	after := status(t)
	if !appRunning("hello")(after) || ids(after) != ids(before) || len(after.Applications) != 1 ||
		after.Applications["hello"].LastDeployedTimeS != before.Applications["hello"].LastDeployedTimeS {
		t.Fatalf("running apps changed after bad configs:\nbefore %s\nafter %s", statusSummary(before), statusSummary(after))
	}
	if code, body := get(t, proxyURL(workerIP, "/echo")); code != 200 || strings.TrimSpace(body) != "hi there" {
		t.Errorf("hello after bad configs: %d %q", code, body)
	}
}

// `goray serve deploy|status|shutdown` with a RayService's serveConfigV2.
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	manifest := `apiVersion: ray.io/v1
kind: RayService
metadata: {name: svc}
spec:
  serveConfigV2: |
    applications:
      - name: cli
        route_prefix: /cli
        import_path: hello
        deployments:
          - name: Echo
            user_config:
              message: from the cli
`
	path := dir + "/svc.yaml"
	if err := writeFile(path, manifest); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(dashboard, "http://")
	if out, err := goray("serve", "deploy", path, "--address", addr); err != nil {
		t.Fatalf("serve deploy: %v\n%s", err, out)
	}
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "cli RUNNING", appRunning("cli"))
	waitForBody(t, proxyURL(headIP, "/cli/echo"), "from the cli")
	out, err := goray("serve", "status", "--address", dashboard)
	if err != nil || !strings.Contains(out, "cli:") || !strings.Contains(out, "status: RUNNING") || !strings.Contains(out, "RUNNING: 1") {
		t.Fatalf("serve status: %v\n%s", err, out)
	}
	if out, err := goray("serve", "deploy", writeTemp(t, dir, "applications: [{name: x, route_prefix: x, import_path: hello}]"), "--address", addr); err == nil || !strings.Contains(out, "must start with '/'") {
		t.Errorf("serve deploy of a bad config: %v\n%s", err, out)
	}
	if out, err := goray("serve", "shutdown", "-y", "--address", addr); err != nil {
		t.Fatalf("serve shutdown: %v\n%s", err, out)
	}
	if d := status(t); len(d.Applications) != 0 {
		t.Errorf("applications after shutdown: %v", d.Applications)
	}
}

func writeTemp(t *testing.T, dir, content string) string {
	p := dir + "/bad.yaml"
	if err := writeFile(p, content); err != nil {
		t.Fatal(err)
	}
	return p
}

func goray(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := execCommand(binDir+"/goray", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
