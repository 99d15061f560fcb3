package cluster_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/cluster"
	"github.com/goray-dev/goray/runtime/node"
)

// apiClient calls a node's HTTP APIs with (or without) the cluster's token.
type apiClient struct {
	t     *testing.T
	token string // "" sends none
}

func (a apiClient) call(method, url, body string) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set(auth.HeaderAuthorization, "Bearer "+a.token)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestStartServesTheHeadAPIs starts a head and a worker node in this
// process with Start, as `goray start` runs them, and uses the head's
// dashboard over HTTP: the job API runs a job to its end and serves its
// logs, the state API lists both nodes and the job. Every API refuses a
// call without the token but the health probes.
func TestStartServesTheHeadAPIs(t *testing.T) {
	const token = "cluster-start-test-token"
	ctx := context.Background()
	sec := auth.NewToken(token)
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(&testWriter{t}, "[head] ", log.Lmicroseconds)
	}
	head, err := cluster.Start(ctx, cluster.Config{Head: true, Security: sec, TempDir: t.TempDir(),
		Node:          node.Config{IP: "127.0.0.1", Resources: map[string]float64{"CPU": 1, "memory": 1 << 30}, Logger: logger},
		DashboardHost: "127.0.0.1", DashboardPort: cluster.AnyPort, AgentPort: cluster.AnyPort, MetricsPort: cluster.AnyPort,
		ServePort: cluster.AnyPort, ServeGRPCPort: cluster.AnyPort})
	if err != nil {
		t.Fatal(err)
	}
	defer head.Stop()
	worker, err := cluster.Start(ctx, cluster.Config{GcsAddress: head.GcsAddress(), Security: sec,
		Node:      node.Config{IP: "127.0.0.2", Resources: map[string]float64{"CPU": 1, "memory": 1 << 30}, Logger: logger},
		AgentPort: cluster.AnyPort, DashboardPort: cluster.AnyPort}) // no dashboard on a worker node
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Stop()
	for what, addr := range map[string]string{"dashboard": head.DashboardAddress(), "agent": head.AgentAddress(),
		"metrics": head.MetricsAddress(), "serve": head.ServeAddress(), "serve gRPC": head.ServeGRPCAddress(),
		"worker agent": worker.AgentAddress()} {
		if !strings.HasPrefix(addr, "127.0.0.") || strings.HasSuffix(addr, ":0") {
			t.Errorf("%s at %q", what, addr)
		}
	}
	if worker.DashboardAddress() != "" || worker.GCS != nil || worker.MetricsAddress() != "" || worker.ServeAddress() != "" {
		t.Errorf("worker node: dashboard %q, metrics %q, serve %q, GCS %v", worker.DashboardAddress(), worker.MetricsAddress(),
			worker.ServeAddress(), worker.GCS)
	}
	dash := "http://" + head.DashboardAddress()
	anon, with, wrong := apiClient{t: t}, apiClient{t: t, token: token}, apiClient{t: t, token: "wrong"}

	// Without the token only the health probes answer.
	for _, u := range []string{dash + "/api/jobs/", dash + "/api/v0/nodes", dash + "/api/version", dash + "/api/serve/applications/",
		"http://" + head.AgentAddress() + "/api/v0/agent/logs", "http://" + head.MetricsAddress() + "/metrics"} {
		for _, c := range []apiClient{anon, wrong} {
			if code, body := c.call(http.MethodGet, u, ""); code != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q: %d %s, want 401", u, c.token, code, body)
			}
		}
	}
	if code, body := anon.call(http.MethodPost, dash+"/api/jobs/", `{"entrypoint": "echo refused"}`); code != http.StatusUnauthorized {
		t.Errorf("submit without the token: %d %s", code, body)
	}
	for _, u := range []string{dash + "/api/gcs_healthz", "http://" + head.AgentAddress() + "/api/local_raylet_healthz",
		"http://" + worker.AgentAddress() + "/api/local_raylet_healthz"} {
		if code, body := anon.call(http.MethodGet, u, ""); code != http.StatusOK || body != "success" {
			t.Errorf("GET %s without the token: %d %q", u, code, body)
		}
	}

	// The job API: submit, wait for the end, read the logs.
	code, body := with.call(http.MethodPost, dash+"/api/jobs/", `{"entrypoint": "echo goray-start-test $RAY_ADDRESS"}`)
	if code != http.StatusOK {
		t.Fatalf("submit: %d %s", code, body)
	}
	var sub struct {
		SubmissionID string `json:"submission_id"`
	}
	if err := json.Unmarshal([]byte(body), &sub); err != nil || sub.SubmissionID == "" {
		t.Fatalf("submit answered %s (%v)", body, err)
	}
	var status string
	for end := time.Now().Add(60 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		code, body = with.call(http.MethodGet, dash+"/api/jobs/"+sub.SubmissionID, "")
		var d struct {
			Status string `json:"status"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &d) != nil {
			t.Fatalf("job: %d %s", code, body)
		}
		if status = d.Status; status == "SUCCEEDED" || status == "FAILED" || status == "STOPPED" {
			break
		}
	}
	if status != "SUCCEEDED" {
		t.Fatalf("job %s: %s", sub.SubmissionID, body)
	}
	code, body = with.call(http.MethodGet, dash+"/api/jobs/"+sub.SubmissionID+"/logs", "")
	if code != http.StatusOK || !strings.Contains(body, "goray-start-test "+head.GcsAddress()) {
		t.Errorf("job logs: %d %s", code, body)
	}
	if code, body = with.call(http.MethodGet, dash+"/api/jobs/", ""); code != http.StatusOK || !strings.Contains(body, sub.SubmissionID) {
		t.Errorf("job list: %d %s", code, body)
	}

	// The state API: both nodes, alive, and the job.
	var nodes struct {
		Data struct {
			Result struct {
				Result []struct {
					NodeIP string `json:"node_ip"`
					State  string `json:"state"`
					IsHead bool   `json:"is_head_node"`
				} `json:"result"`
			} `json:"result"`
		} `json:"data"`
	}
	code, body = with.call(http.MethodGet, dash+"/api/v0/nodes", "")
	if code != http.StatusOK || json.Unmarshal([]byte(body), &nodes) != nil {
		t.Fatalf("state nodes: %d %s", code, body)
	}
	seen := map[string]bool{}
	for _, n := range nodes.Data.Result.Result {
		seen[n.NodeIP] = n.State == "ALIVE" && n.IsHead == (n.NodeIP == "127.0.0.1")
	}
	if len(seen) != 2 || !seen["127.0.0.1"] || !seen["127.0.0.2"] {
		t.Errorf("state nodes: %s", body)
	}
	if code, body = with.call(http.MethodGet, dash+"/api/v0/jobs", ""); code != http.StatusOK || !strings.Contains(body, sub.SubmissionID) {
		t.Errorf("state jobs: %d %s", code, body)
	}
	// The serve REST API, the metrics and the serve proxy answer too.
	if code, body = with.call(http.MethodGet, dash+"/api/serve/applications/", ""); code != http.StatusOK {
		t.Errorf("serve applications: %d %s", code, body)
	}
	if code, body = with.call(http.MethodGet, "http://"+head.MetricsAddress()+"/metrics", ""); code != http.StatusOK || !strings.Contains(body, "ray_") {
		t.Errorf("metrics: %d %.200s", code, body)
	}
	if code, body = anon.call(http.MethodGet, "http://"+head.ServeAddress()+"/-/healthz", ""); code != http.StatusOK {
		t.Errorf("serve proxy health: %d %s", code, body)
	}
}

// testWriter logs to the test.
type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
