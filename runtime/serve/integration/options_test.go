package integration

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

// The serve config's proxy_location, http_options.root_path and
// http_options.request_timeout_s apply to the nodes' proxies, and go back to
// their defaults with the next config that leaves them out.
func TestProxyOptionsApply(t *testing.T) {
	deploy(t, `
proxy_location: HeadOnly
http_options: {root_path: /api, request_timeout_s: 1}
applications:
  - name: hello
    route_prefix: /hello
    import_path: hello
    deployments: [{name: Hello, num_replicas: 1}]
`)
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "hello RUNNING", appRunning("hello"))
	// HeadOnly: the head's proxy serves, under the root path; the
	// worker's answers 503 to everything, its health check included.
	waitForBody(t, proxyURL(headIP, "/api/hello"), "Hello from goray serve!")
	waitForCode(t, proxyURL(workerIP, "/-/healthz"), http.StatusServiceUnavailable)
	if code, body := get(t, proxyURL(workerIP, "/api/hello")); code != http.StatusServiceUnavailable || !strings.Contains(body, "HeadOnly") {
		t.Errorf("worker proxy under HeadOnly: %d %q", code, body)
	}
	if code, _ := get(t, proxyURL(headIP, "/hello")); code != http.StatusNotFound {
		t.Errorf("head proxy, a path outside the root path: %d, want 404", code)
	}
	waitFor(t, "only the head's proxy in the status", func(d *schema.ServeInstanceDetails) bool {
		if len(d.Proxies) != 1 {
			return false
		}
		for _, p := range d.Proxies {
			return p.NodeIP == headIP
		}
		return false
	})
	// request_timeout_s: 1 — a request held 5 s is answered 408 after
	// about a second.
	start := time.Now()
	code, body := get(t, proxyURL(headIP, "/api/hello?sleep_ms=5000"))
	if took := time.Since(start); code != http.StatusRequestTimeout || !strings.Contains(body, "timed out after 1s") || took > 4*time.Second {
		t.Errorf("a request over request_timeout_s: %d %q after %v, want 408 after about 1 s", code, body, took)
	}

	// Disabled: no proxy serves.
	deploy(t, `
proxy_location: Disabled
applications:
  - name: hello
    route_prefix: /hello
    import_path: hello
    deployments: [{name: Hello, num_replicas: 1}]
`)
	waitForCode(t, proxyURL(headIP, "/-/healthz"), http.StatusServiceUnavailable)
	waitForCode(t, proxyURL(headIP, "/hello"), http.StatusServiceUnavailable)

	// Left out: EveryNode, no root path, no timeout.
	deploy(t, `
applications:
  - name: hello
    route_prefix: /hello
    import_path: hello
    deployments: [{name: Hello, num_replicas: 1}]
`)
	for _, ip := range []string{headIP, workerIP} {
		waitForBody(t, proxyURL(ip, "/hello"), "Hello from goray serve!")
		if code, body := get(t, proxyURL(ip, "/hello?sleep_ms=1500")); code != http.StatusOK {
			t.Errorf("proxy %s, no timeout: %d %q", ip, code, body)
		}
	}
	waitFor(t, "both proxies in the status", func(d *schema.ServeInstanceDetails) bool { return len(d.Proxies) == 2 })
}
