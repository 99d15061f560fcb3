package integration

import (
	"strings"
	"testing"
)

// examples/serve/config.yaml, the config the README points `goray serve
// deploy` at, deploys goray-examples' application with the CLI and serves
// over HTTP through the proxy as its comments say.
func TestExampleServeConfig(t *testing.T) {
	out, err := goray("serve", "deploy", "../../../examples/serve/config.yaml", "--address", dashboard)
	if err != nil {
		t.Fatalf("goray serve deploy examples/serve/config.yaml: %v\n%s", err, out)
	}
	t.Cleanup(func() { shutdown(t) })
	d := waitFor(t, "hello RUNNING", appRunning("hello"))
	if n := d.Applications["hello"].Deployments["Hello"].TargetNumReplicas; n != 2 {
		t.Errorf("Hello runs %d replicas, want the config's 2", n)
	}
	for _, ip := range []string{headIP, workerIP} {
		for path, want := range map[string]string{"/hello": "Hello from examples/serve/config.yaml!", "/hello/echo": "hi from Echo"} {
			if code, body := get(t, proxyURL(ip, path)); code != 200 || strings.TrimSpace(body) != want {
				t.Errorf("proxy %s GET %s: %d %q, want %q", ip, path, code, body, want)
			}
		}
	}
	if out, err := goray("serve", "status", "--address", dashboard); err != nil || !strings.Contains(out, "hello:") || !strings.Contains(out, "status: RUNNING") {
		t.Errorf("goray serve status: %v\n%s", err, out)
	}
}

// examples/serve/streaming.yaml deploys examples/streaming with the CLI;
// its events stream through the proxy as its comments say.
func TestExampleStreamingConfig(t *testing.T) {
	out, err := goray("serve", "deploy", "../../../examples/serve/streaming.yaml", "--address", dashboard)
	if err != nil {
		t.Fatalf("goray serve deploy examples/serve/streaming.yaml: %v\n%s", err, out)
	}
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "streaming RUNNING", appRunning("streaming"))
	for _, path := range []string{"/stream/events?n=3&interval_ms=10", "/stream/relay?n=3&interval_ms=10"} {
		if evs := readEvents(t, proxyURL(headIP, path)); len(evs) != 3 {
			t.Errorf("GET %s: %d events, want 3", path, len(evs))
		}
	}
}
