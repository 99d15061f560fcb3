package proxy

import (
	"bufio"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/router"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

// proxyTo starts a replica (a hop server with h) and a proxy routing "/" to
// it, both on loopback, and returns the proxy's URL.
func proxyTo(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	url, _ := proxyWith(t, h, routes.HTTPConfig{}, false, "/")
	return url
}

// proxyWith is proxyTo with the serve config's proxy options, the proxy on
// the head or not, and the application's route prefix.
func proxyWith(t *testing.T, h http.HandlerFunc, hc routes.HTTPConfig, head bool, prefix string) (string, *Proxy) {
	t.Helper()
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &hop.Server{Handler: h}
	go rs.Serve(rl)
	t.Cleanup(rs.Close)
	p := &Proxy{cfg: Config{Logger: log.New(io.Discard, "", 0), Head: head}, routers: map[string]*router.Router{}}
	p.table.Store(&routes.Table{})
	p.update(&routes.Table{HTTP: hc, Apps: []routes.App{{Name: "app", RoutePrefix: prefix, Ingress: "D",
		Deployments: map[string]routes.Deployment{"D": {MaxOngoing: 100, Replicas: []routes.Replica{{ID: "r1", Address: rl.Addr().String()}}}}}}})
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p.handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(pl)
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + pl.Addr().String(), p
}

// Each line a handler flushes reaches the client through the proxy within
// 20 ms of the flush (lines carry their flush time).
func TestFlushedLinesReachTheClientAtOnce(t *testing.T) {
	url := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 10 {
			fmt.Fprintf(w, "data: %d %d\n\n", i, time.Now().UnixNano())
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	})
	resp, err := http.Get(url + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ContentLength != -1 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("length %d, type %q: want a streamed event stream", resp.ContentLength, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		var i int
		var sent int64
		if _, err := fmt.Sscanf(line, "data: %d %d", &i, &sent); err != nil || i != n {
			t.Fatalf("line %q (want event %d): %v", line, n, err)
		}
		if lag := time.Since(time.Unix(0, sent)); lag > 20*time.Millisecond {
			t.Errorf("event %d reached the client %v after its flush, want ≤ 20ms", i, lag)
		}
		n++
	}
	if n != 10 {
		t.Fatalf("%d events, want 10 (%v)", n, sc.Err())
	}
}

// A large upload streams: the handler has its first bytes before the client
// sent its last, and gets every byte in order.
func TestUploadStreamsToTheHandler(t *testing.T) {
	var firstByte atomic.Int64
	url := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		firstByte.Store(time.Now().UnixNano())
		h := crc32.NewIEEE()
		h.Write(buf)
		n, err := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %d %08x %v", r.ContentLength, n+1, h.Sum32(), err)
	})
	const size = 32 << 20
	var lastSent atomic.Int64
	src := &slowEnd{left: size, last: &lastSent}
	req, _ := http.NewRequest(http.MethodPut, url+"/up", src)
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	want := fmt.Sprintf("%d %d %08x <nil>", size, size, crc32.ChecksumIEEE(make([]byte, size)))
	if string(b) != want {
		t.Fatalf("handler: %q, want %q", b, want)
	}
	if firstByte.Load() >= lastSent.Load() {
		t.Fatal("the handler's first byte came after the client's last: the proxy buffered the body")
	}
}

// slowEnd hands out size bytes and notes when it handed out the last ones,
// after a pause.
type slowEnd struct {
	left int64
	last *atomic.Int64
}

func (s *slowEnd) Read(p []byte) (int, error) {
	if s.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.left))
	clear(p[:n])
	s.left -= int64(n)
	if s.left == 0 {
		time.Sleep(100 * time.Millisecond)
		s.last.Store(time.Now().UnixNano())
	}
	return n, nil
}

// A WebSocket handshake passes through the proxy, and messages both ways.
func TestWebSocketEchoThroughTheProxy(t *testing.T) {
	url := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
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
			if err := c.Write(r.Context(), typ, append([]byte("echo: "), msg...)); err != nil {
				return
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws", nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake status %d", resp.StatusCode)
	}
	for i := range 3 {
		msg := "hello " + strconv.Itoa(i)
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx)
		if err != nil || string(got) != "echo: "+msg {
			t.Fatalf("got %q %v", got, err)
		}
	}
	if err := c.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
}

// A client that goes away cancels the handler's context.
func TestClientGoneCancelsTheHandler(t *testing.T) {
	cancelled := make(chan struct{})
	url := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "started")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(30 * time.Second):
		}
	})
	resp, err := http.Get(url + "/wait")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "started\n" {
		t.Fatalf("first line %q %v", line, err)
	}
	_ = resp.Body.Close() // the client's connection closes
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context was not cancelled when the client went away")
	}
}

func TestIsUpgrade(t *testing.T) {
	for _, c := range []struct {
		h    http.Header
		want bool
	}{
		{http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, true},
		{http.Header{"Connection": {"keep-alive, upgrade"}, "Upgrade": {"websocket"}}, true},
		{http.Header{"Connection": {"keep-alive"}, "Upgrade": {"websocket"}}, false},
		{http.Header{"Connection": {"Upgrade"}}, false},
		{http.Header{}, false},
	} {
		if got := isUpgrade(&http.Request{Header: c.h}); got != c.want {
			t.Errorf("isUpgrade(%v) = %v", c.h, got)
		}
	}
}

// An Upgrade request whose handler answers without taking the stream over
// gets that answer, and the proxy is done with it (nothing waits on the
// client's side of the tunnel that never was).
func TestUpgradeRefusedByTheHandler(t *testing.T) {
	url := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no websockets here", http.StatusUpgradeRequired)
	})
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, url+"/ws", nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(b), "no websockets") {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
	}
}

// A handler that takes over a request that asked for no upgrade: the
// client gets a 502 (there is no connection of its to relay).
func TestTakeoverWithoutUpgradeIs502(t *testing.T) {
	url := proxyTo(t, func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			defer c.Close()
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nraw")
		}
	})
	if code, body := status(t, url+"/raw"); code != http.StatusBadGateway || !strings.Contains(body, "no protocol upgrade") {
		t.Fatalf("%d %q", code, body)
	}
}
