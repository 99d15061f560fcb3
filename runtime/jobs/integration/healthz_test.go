package integration

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// TestUnifiedHealthzOpen probes /api/healthz where KubeRay's probes for
// Ray 2.53 clusters reach it — the head's dashboard and agent, a worker's
// agent — without a token on a token-auth cluster, as the kubelet calls it,
// while the API beside it still wants the token.
func TestUnifiedHealthzOpen(t *testing.T) {
	needProcesses(t)
	c := startCluster(t, "127.0.0.183", "127.0.0.184", randomToken(t))
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := hc.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []struct {
		url, body string
	}{
		{c.url() + "/api/healthz", "raylet: success\ngcs: success"},
		{"http://" + net.JoinHostPort(c.headIP, strconv.Itoa(c.agent)) + "/api/healthz", "raylet: success\ngcs: success"},
		{"http://" + net.JoinHostPort(c.workerIP, strconv.Itoa(c.workerAgent)) + "/api/healthz", "raylet: success\ngcs: success (no local gcs)"},
	} {
		if code, body := get(p.url); code != http.StatusOK || body != p.body {
			t.Errorf("GET %s: %d %q, want 200 %q", p.url, code, body, p.body)
		}
	}
	if code, _ := get(c.url() + "/api/jobs/"); code != http.StatusUnauthorized {
		t.Errorf("GET /api/jobs/ without the token: %d, want 401", code)
	}
}
