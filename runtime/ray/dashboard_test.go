package ray

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/cluster"
)

var dashSquare = Task("test.dashSquare", func(ctx context.Context, x int) (int, error) { return x * x, nil })

// dashGet GETs (or, with a body, POSTs) the embedded dashboard's path with
// token ("" sends none).
func dashGet(t *testing.T, path, token, body string) (int, string) {
	t.Helper()
	method := http.MethodGet
	if body != "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, "http://"+DashboardAddress()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkDashboard: the embedded cluster serves the dashboard's APIs as a
// head does: the job API runs a job against this cluster, the state API
// lists its node, jobs and this driver's tasks (token: the one it requires).
func checkDashboard(t *testing.T, token string) {
	if !strings.HasPrefix(DashboardAddress(), "127.0.0.1:") {
		t.Fatalf("DashboardAddress() = %q", DashboardAddress())
	}
	if code, body := dashGet(t, "/api/version", token, ""); code != http.StatusOK || !strings.Contains(body, "goray-") {
		t.Fatalf("/api/version: %d %s", code, body)
	}
	code, body := dashGet(t, "/api/jobs/", token, `{"entrypoint": "echo embedded-job $RAY_ADDRESS"}`)
	var sub struct {
		SubmissionID string `json:"submission_id"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &sub) != nil {
		t.Fatalf("submit: %d %s", code, body)
	}
	var job struct {
		Status string `json:"status"`
	}
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end) && job.Status != "SUCCEEDED" && job.Status != "FAILED"; time.Sleep(100 * time.Millisecond) {
		code, body = dashGet(t, "/api/jobs/"+sub.SubmissionID, token, "")
		if code != http.StatusOK || json.Unmarshal([]byte(body), &job) != nil {
			t.Fatalf("job: %d %s", code, body)
		}
	}
	if job.Status != "SUCCEEDED" {
		t.Fatalf("job: %s", body)
	}
	if code, body = dashGet(t, "/api/jobs/"+sub.SubmissionID+"/logs", token, ""); code != http.StatusOK || !strings.Contains(body, "embedded-job "+GCSAddress()) {
		t.Errorf("job logs: %d %s", code, body)
	}
	if code, body = dashGet(t, "/api/v0/nodes", token, ""); code != http.StatusOK || !strings.Contains(body, NodeID()) {
		t.Errorf("state nodes: %d %s", code, body)
	}
	if code, body = dashGet(t, "/api/v0/jobs", token, ""); code != http.StatusOK || !strings.Contains(body, sub.SubmissionID) {
		t.Errorf("state jobs: %d %s", code, body)
	}
	ctx := context.Background()
	if v, err := Get(ctx, dashSquare.Remote(ctx, 7)); err != nil || v != 49 {
		t.Fatalf("dashSquare: %v %v", v, err)
	}
	// Task events reach the GCS in batches.
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		code, body = dashGet(t, "/api/v0/tasks?filter_keys=name&filter_predicates=%3D&filter_values=test.dashSquare", token, "")
		if code == http.StatusOK && strings.Contains(body, `"test.dashSquare"`) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("state tasks: %d %s", code, body)
		}
	}
}

// Without token authentication and without WithDashboardPort, the embedded
// cluster opens no dashboard (its job API runs shell commands).
func TestInitOpensNoDashboardUnasked(t *testing.T) {
	if os.Getenv(embeddedTokenEnv) != "" {
		t.Skip("in the child, which requires a token")
	}
	if a := DashboardAddress(); a != "" {
		t.Fatalf("DashboardAddress() = %q without a token or WithDashboardPort", a)
	}
}

// embeddedTokenEnv gives the child of TestInitDashboardRequiresTheToken the
// token its embedded cluster requires.
const embeddedTokenEnv = "GORAY_TEST_EMBEDDED_TOKEN"

// TestInitDashboardRequiresTheToken runs this test binary with
// RAY_AUTH_TOKEN set, so that its embedded cluster requires the token (the
// credentials are the process's, read once) and so runs its dashboard:
// there the child test below finds it refusing calls without the token,
// as a head's does, and serving the job and state APIs with it.
func TestInitDashboardRequiresTheToken(t *testing.T) {
	if os.Getenv(embeddedTokenEnv) != "" {
		t.Skip("in the child")
	}
	const token = "embedded-dashboard-token"
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedDashboardTokenChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), embeddedTokenEnv+"="+token, "RAY_AUTH_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestEmbeddedDashboardTokenChild") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestEmbeddedDashboardTokenChild(t *testing.T) {
	token := os.Getenv(embeddedTokenEnv)
	if token == "" {
		t.Skip("run by TestInitDashboardRequiresTheToken")
	}
	for _, path := range []string{"/api/jobs/", "/api/v0/nodes", "/api/version"} {
		for _, tok := range []string{"", "wrong"} {
			if code, body := dashGet(t, path, tok, ""); code != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q: %d %s, want 401", path, tok, code, body)
			}
		}
		if code, body := dashGet(t, path, token, ""); code != http.StatusOK {
			t.Errorf("GET %s with the token: %d %s", path, code, body)
		}
	}
	if code, body := dashGet(t, "/api/jobs/", "", `{"entrypoint": "echo refused"}`); code != http.StatusUnauthorized {
		t.Errorf("submit without the token: %d %s", code, body)
	}
	if code, body := dashGet(t, "/api/gcs_healthz", "", ""); code != http.StatusOK {
		t.Errorf("health probe without the token: %d %s", code, body)
	}
	checkDashboard(t, token)
}

// TestEmbeddedConfig: the embedded cluster's dashboard (and agent) run when
// token authentication is on or WithDashboardPort asks for them, on a free
// port unless it fixes one (negative: none); its serve proxy runs only with
// WithServePort; no metrics exporter.
func TestEmbeddedConfig(t *testing.T) {
	t.Setenv("GORAY_SERVE_BINARY", "")
	for _, tc := range []struct {
		name            string
		opts            []InitOption
		sec             auth.Config
		dash, serveHTTP int
	}{
		{name: "default, no token: none", dash: 0},
		{name: "default with a token", sec: auth.NewToken("t"), dash: cluster.AnyPort},
		{name: "asked for, a free port", opts: []InitOption{WithDashboardPort(0)}, dash: cluster.AnyPort},
		{name: "dashboard port", opts: []InitOption{WithDashboardPort(8265)}, dash: 8265},
		{name: "no dashboard even with a token", sec: auth.NewToken("t"), opts: []InitOption{WithDashboardPort(-1)}, dash: 0},
		{name: "serve on a free port", opts: []InitOption{WithDashboardPort(0), WithServePort(0)}, dash: cluster.AnyPort, serveHTTP: cluster.AnyPort},
		{name: "serve on 8000", sec: auth.NewToken("t"), opts: []InitOption{WithServePort(8000)}, dash: cluster.AnyPort, serveHTTP: 8000},
	} {
		cfg := &initConfig{}
		for _, o := range tc.opts {
			o(cfg)
		}
		c := embeddedConfig(cfg, map[string]float64{"CPU": 1}, nil, tc.sec, "/bin/prog")
		agent := cluster.AnyPort
		if tc.dash == 0 {
			agent = 0
		}
		if !c.Head || c.DashboardHost != "127.0.0.1" || c.DashboardPort != tc.dash || c.ServePort != tc.serveHTTP || c.ServeGRPCPort != 0 ||
			c.MetricsPort != 0 || c.AgentPort != agent || c.ServeBinary != "/bin/prog" {
			t.Errorf("%s: %+v", tc.name, c)
		}
	}
}
