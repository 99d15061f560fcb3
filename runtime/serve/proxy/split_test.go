package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

// setSplit gives p's table a traffic split.
func setSplit(p *Proxy, s routes.Split) {
	t := *p.table.Load()
	t.Split = s
	p.update(&t)
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A proxy with a split forwards exactly its percent of the requests to the
// target (another cluster's proxy), path, query and body as sent; the
// target's proxy serves them itself even when it has a split of its own
// (no loop); the rest go to this proxy's replicas; concurrent requests
// keep the share.
func TestSplitForwardsItsPercent(t *testing.T) {
	answer := func(who string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s?%s %s", who, r.URL.Path, r.URL.RawQuery, b)
		}
	}
	activeURL, active := proxyWith(t, answer("active"), routes.HTTPConfig{}, false, "/")
	pendingURL, pending := proxyWith(t, answer("pending"), routes.HTTPConfig{}, false, "/")
	setSplit(active, routes.Split{Target: pendingURL, Percent: 30})
	setSplit(pending, routes.Split{Target: activeURL, Percent: 100}) // never used for forwarded requests
	counts := map[string]int{}
	for i := range 200 {
		code, body := post(t, fmt.Sprintf("%s/a/b?i=%d", activeURL, i), fmt.Sprintf("body-%d", i))
		who, rest, _ := strings.Cut(body, " ")
		if code != http.StatusOK || rest != fmt.Sprintf("/a/b?i=%d body-%d", i, i) {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		counts[who]++
	}
	if counts["pending"] != 60 || counts["active"] != 140 {
		t.Fatalf("answers %v, want 60 from the pending cluster and 140 from the active one", counts)
	}
	// Concurrent clients: still exactly 30 of every 100.
	var mu sync.Mutex
	counts = map[string]int{}
	var wg sync.WaitGroup
	for c := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				resp, err := http.Get(fmt.Sprintf("%s/c%d/%d", activeURL, c, i))
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				who, _, _ := strings.Cut(string(b), " ")
				mu.Lock()
				counts[who]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if counts["pending"] != 90 || counts["active"] != 210 {
		t.Fatalf("concurrent answers %v, want 90 pending and 210 active", counts)
	}
	// Percent 0 (the operator's last step of a rollback) forwards nothing.
	setSplit(active, routes.Split{})
	for i := range 20 {
		if code, body := status(t, fmt.Sprintf("%s/x/%d", activeURL, i)); code != 200 || !strings.HasPrefix(body, "active ") {
			t.Fatalf("without a split: %d %q", code, body)
		}
	}
}

// A request whose target cannot be reached is served by this cluster when
// it was never served there (no connection) — GET and POST alike — so the
// client sees no error.
func TestSplitFallsBackWhenTheTargetIsDown(t *testing.T) {
	url, p := proxyWith(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "local %s", b)
	}, routes.HTTPConfig{}, false, "/")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	_ = l.Close() // nothing listens there now
	setSplit(p, routes.Split{Target: dead, Percent: 100})
	for i := range 5 {
		if code, body := status(t, url+"/"); code != 200 || body != "local " {
			t.Fatalf("GET %d: %d %q", i, code, body)
		}
		if code, body := post(t, url+"/", "data"); code != 200 || body != "local data" {
			t.Fatalf("POST %d: %d %q", i, code, body)
		}
	}
}

// A streamed answer passes through the split as a stream.
func TestSplitStreams(t *testing.T) {
	_, active := proxyWith(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "active", http.StatusInternalServerError) }, routes.HTTPConfig{}, false, "/")
	pendingURL, _ := proxyWith(t, func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "line %d\n", i)
			w.(http.Flusher).Flush()
		}
	}, routes.HTTPConfig{}, false, "/")
	setSplit(active, routes.Split{Target: pendingURL, Percent: 100})
	srv := &http.Server{Handler: active.handler()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { _ = srv.Close() })
	resp, err := http.Get("http://" + l.Addr().String() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "line 0\nline 1\nline 2\n" || resp.ContentLength != -1 {
		t.Fatalf("streamed through the split: %d len %d %q", resp.StatusCode, resp.ContentLength, b)
	}
}

// A WebSocket whose request the split sends to the target is a tunnel to
// the target cluster's handler.
func TestSplitWebSocket(t *testing.T) {
	_, active := proxyWith(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "active", http.StatusInternalServerError) },
		routes.HTTPConfig{}, false, "/")
	pendingURL, _ := proxyWith(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("pending: "), msg...)); err != nil {
				return
			}
		}
	}, routes.HTTPConfig{}, false, "/")
	setSplit(active, routes.Split{Target: pendingURL, Percent: 100})
	srv := &http.Server{Handler: active.handler(), ReadHeaderTimeout: 10 * time.Second}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+l.Addr().String()+"/ws", nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for i := range 3 {
		msg := fmt.Sprintf("hello %d", i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, got, err := c.Read(ctx); err != nil || string(got) != "pending: "+msg {
			t.Fatalf("got %q %v", got, err)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
}
