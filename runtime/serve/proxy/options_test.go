package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

func status(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// proxy_location: EveryNode (and "") serves on every node, HeadOnly on the
// head only, Disabled nowhere; a proxy that does not serve answers 503 to
// everything, its health check included.
func TestProxyLocation(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }
	for _, c := range []struct {
		location string
		head     bool
		serves   bool
	}{
		{"", false, true}, {routes.EveryNode, false, true}, {routes.EveryNode, true, true},
		{routes.HeadOnly, true, true}, {routes.HeadOnly, false, false},
		{routes.Disabled, true, false}, {routes.Disabled, false, false},
	} {
		url, _ := proxyWith(t, ok, routes.HTTPConfig{Location: c.location}, c.head, "/")
		want := http.StatusOK
		if !c.serves {
			want = http.StatusServiceUnavailable
		}
		for _, path := range []string{"/", "/-/healthz", "/-/routes"} {
			if code, body := status(t, url+path); code != want {
				t.Errorf("proxy_location %q, head %v: GET %s: %d %q, want %d", c.location, c.head, path, code, body, want)
			}
		}
	}
}

// root_path mounts every route under it: the handler sees the path below
// the root path and the application's route prefix; paths outside it are 404.
func TestRootPath(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.URL.Path, r.Header.Get("X-Forwarded-Prefix"))
	}
	url, _ := proxyWith(t, echo, routes.HTTPConfig{RootPath: "/serve"}, false, "/app")
	for path, want := range map[string]string{
		"/serve/app":      "/ /serve/app",
		"/serve/app/x/y":  "/x/y /serve/app",
		"/app":            "404",
		"/serve":          "404", // the root path, but no application at "/"
		"/serveapp":       "404",
		"/serve/app2":     "404",
		"/other/serve/ap": "404",
	} {
		code, body := status(t, url+path)
		got := body
		if code == http.StatusNotFound {
			got = "404"
		}
		if got != want {
			t.Errorf("GET %s: %d %q, want %q", path, code, body, want)
		}
	}
	if code, body := status(t, url+"/-/healthz"); code != 200 || body != "success" {
		t.Errorf("/-/healthz under a root path: %d %q (Ray's health check stays at the root)", code, body)
	}
	rootURL, _ := proxyWith(t, echo, routes.HTTPConfig{RootPath: "/serve"}, false, "/")
	if code, body := status(t, rootURL+"/serve"); code != 200 || body != "/ /serve" {
		t.Errorf("GET /serve with the application at /: %d %q", code, body)
	}
}

// request_timeout_s: a request that takes longer is answered 408 (as Ray's
// proxy does) and its handler's context is cancelled; a streamed response
// that goes on past it is broken off.
func TestRequestTimeout(t *testing.T) {
	cancelled := make(chan struct{}, 4)
	url, _ := proxyWith(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			for i := 0; ; i++ {
				fmt.Fprintf(w, "%d\n", i)
				w.(http.Flusher).Flush()
				select {
				case <-time.After(50 * time.Millisecond):
				case <-r.Context().Done():
					cancelled <- struct{}{}
					return
				}
			}
		}
		d, _ := time.ParseDuration(r.URL.Query().Get("sleep"))
		select {
		case <-time.After(d):
			_, _ = io.WriteString(w, "done")
		case <-r.Context().Done():
			cancelled <- struct{}{}
		}
	}, routes.HTTPConfig{RequestTimeoutS: 0.3}, false, "/")
	if code, body := status(t, url+"/?sleep=10ms"); code != 200 || body != "done" {
		t.Fatalf("a quick request: %d %q", code, body)
	}
	start := time.Now()
	code, body := status(t, url+"/?sleep=5s")
	if took := time.Since(start); code != http.StatusRequestTimeout || !strings.Contains(body, "timed out after 0.3s") || took > 3*time.Second {
		t.Fatalf("a slow request: %d %q after %v, want 408 after about 0.3s", code, body, took)
	}
	waitCancelled := func(what string) {
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: the handler's context was not cancelled", what)
		}
	}
	waitCancelled("slow request")
	resp, err := http.Get(url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err == nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "0\n1\n") {
		t.Fatalf("a stream past the timeout: %d, %q, %v: want its start, then a broken body", resp.StatusCode, b, err)
	}
	waitCancelled("stream")
}
