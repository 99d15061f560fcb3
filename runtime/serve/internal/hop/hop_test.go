package hop

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func serve(t *testing.T, h http.HandlerFunc) (string, *Server) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h}
	go s.Serve(l)
	t.Cleanup(s.Close)
	return l.Addr().String(), s
}

// answer is a response read to its end.
type answer struct {
	code   int
	status string
	header http.Header
}

func get(t *testing.T, p *Pool, addr string, req *http.Request) (answer, string) {
	t.Helper()
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Status, resp.Header}, string(b)
}

// getAsync sends GET path in the background; the channel gets the body, or
// the error's text (no t.Fatal off the test's goroutine, which would leave
// the test waiting on the channel).
func getAsync(p *Pool, addr, path string) <-chan string {
	out := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://x"+path, nil)
		resp, err := p.RoundTrip(req, addr)
		if err != nil {
			out <- err.Error()
			return
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			out <- err.Error()
			return
		}
		out <- string(b)
	}()
	return out
}

func TestRequestAndResponseCarryEverything(t *testing.T) {
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo-Method", r.Method)
		w.Header().Set("X-Echo-Host", r.Host)
		w.Header()["X-Multi"] = []string{"1", "2"}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, r.URL.Path+"?"+r.URL.RawQuery+" "+r.Header.Get("X-In")+" "+string(b)+" "+r.RequestURI)
	})
	var p Pool
	for i := 0; i < 3; i++ { // the connection is reused
		req, _ := http.NewRequest(http.MethodPost, "http://svc.example/a/b?x=1&y=2", strings.NewReader("payload"))
		if i == 1 { // a body already in memory goes as it is
			req.Body = NewBody([]byte("payload"))
		}
		req.Header.Set("X-In", "hdr")
		resp, body := get(t, &p, addr, req)
		if resp.code != http.StatusCreated || resp.status != "201 Created" {
			t.Fatalf("status %q", resp.status)
		}
		if want := "/a/b?x=1&y=2 hdr payload /a/b?x=1&y=2"; body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
		if resp.header.Get("X-Echo-Method") != "POST" || resp.header.Get("X-Echo-Host") != "svc.example" || len(resp.header["X-Multi"]) != 2 {
			t.Fatalf("header %v", resp.header)
		}
	}
	p.mu.Lock()
	c := p.addrs[addr].conn.Load()
	p.mu.Unlock()
	if c == nil || !c.usable() || c.lastID != 3 {
		t.Fatal("want one connection that carried all three requests")
	}
}

func TestLargeAndFlushedResponsesStream(t *testing.T) {
	big := strings.Repeat("0123456789", 20000) // 200 kB: past the buffer, so streamed
	step := make(chan struct{})
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = io.WriteString(w, big)
			return
		}
		_, _ = io.WriteString(w, "first ")
		w.(http.Flusher).Flush()
		<-step // the client has the first part before the handler goes on
		_, _ = io.WriteString(w, "second")
	})
	var p Pool
	req, _ := http.NewRequest(http.MethodGet, "http://x/big", nil)
	if _, body := get(t, &p, addr, req); body != big {
		t.Fatalf("big body: %d bytes, want %d", len(body), len(big))
	}
	req, _ = http.NewRequest(http.MethodGet, "http://x/flush", nil)
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first " {
		t.Fatalf("first part %q %v", buf, err)
	}
	close(step)
	rest, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest %q %v", rest, err)
	}
	// The connection went back to the pool after the streamed body.
	req, _ = http.NewRequest(http.MethodGet, "http://x/big", nil)
	get(t, &p, addr, req)
}

func TestCancelledRequestCancelsTheHandler(t *testing.T) {
	cancelled := make(chan struct{})
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		close(cancelled)
	})
	var p Pool
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://x/", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := p.RoundTrip(req, addr)
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("RoundTrip: %v, want context.Canceled", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context was not cancelled")
	}
}

func TestPanicIs500AndAbortBreaksTheBody(t *testing.T) {
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/late" {
			_, _ = io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	})
	var p Pool
	req, _ := http.NewRequest(http.MethodGet, "http://x/early", nil)
	if resp, _ := get(t, &p, addr, req); resp.code != http.StatusInternalServerError {
		t.Fatalf("panic before writing: %s, want 500", resp.status)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://x/late", nil)
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "partial" || err == nil || !strings.Contains(err.Error(), "broke the response off") {
		t.Fatalf("aborted body %q, %v", b, err)
	}
}

// Malformed input closes only the connection it came on; the server goes on serving.
func TestMalformedFramesCloseOnlyTheirConnection(t *testing.T) {
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	for name, raw := range map[string][]byte{
		"no preface":     []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"frame too big":  append(opening(""), 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff),
		"truncated uri":  append(opening(""), 1, 0, 0, 0, 1, 0, 0, 0, 3, 1, 'G', 9),
		"empty method":   append(opening(""), 1, 0, 0, 0, 1, 0, 0, 0, 5, 0, 1, '/', 0, 0),
		"bad uri":        append(opening(""), 1, 0, 0, 0, 1, 0, 0, 0, 8, 3, 'G', 'E', 'T', 1, '%', 0, 0),
		"server's frame": append(opening(""), byte(frameFull), 0, 0, 0, 1, 0, 0, 0, 0),
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write(raw)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := bufio.NewReader(c).Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
			t.Errorf("%s: read %d bytes, %v; want the connection closed", name, n, err)
		}
		_ = c.Close()
	}
	var p Pool
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	if _, body := get(t, &p, addr, req); body != "ok" {
		t.Fatalf("after malformed input: %q", body)
	}
}

func TestShutdownWaitsForRequestsInFlight(t *testing.T) {
	release := make(chan struct{})
	var finished atomic.Bool
	addr, s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		finished.Store(true)
		_, _ = io.WriteString(w, "done")
	})
	var p Pool
	got := getAsync(&p, addr, "/")
	time.Sleep(50 * time.Millisecond)
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if err := <-shut; err != nil || !finished.Load() {
		t.Fatalf("Shutdown: %v, handler finished %v", err, finished.Load())
	}
	if body := <-got; body != "done" {
		t.Fatalf("in-flight request got %q", body)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

func TestStaleIdleConnectionIsRetriedOnAFreshOne(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	s1 := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "one") })}
	go s1.Serve(l)
	var p Pool
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	get(t, &p, addr, req)
	s1.Close() // the pooled connection is now closed by the server
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skip("port taken meanwhile:", err)
	}
	s2 := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "two") })}
	go s2.Serve(l2)
	t.Cleanup(s2.Close)
	time.Sleep(20 * time.Millisecond)
	req, _ = http.NewRequest(http.MethodGet, "http://x/", nil)
	if _, body := get(t, &p, addr, req); body != "two" {
		t.Fatalf("got %q", body)
	}
}

// Many requests at once share one connection; each gets its own answer.
func TestConcurrentRequestsShareOneConnection(t *testing.T) {
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Get("slow") != "" {
			time.Sleep(2 * time.Millisecond)
		}
		_, _ = w.Write(b)
	})
	var p Pool
	const n = 64
	errs := make(chan error, n)
	for i := range n {
		go func() {
			want := strings.Repeat(string(rune('a'+i%26)), 10+i)
			url := "http://x/"
			if i%3 == 0 {
				url += "?slow=1"
			}
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(want))
			resp, err := p.RoundTrip(req, addr)
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err == nil && string(b) != want {
				err = errors.New("request " + want + " got " + string(b))
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	p.mu.Lock()
	conns := len(p.addrs)
	p.mu.Unlock()
	if conns != 1 {
		t.Fatalf("%d connections, want one shared", conns)
	}
}

// A streamed response the client does not read holds up neither the
// connection's other requests nor more than a window of the server's data.
func TestSlowReaderOfAStreamHoldsUpNothingElse(t *testing.T) {
	var sent atomic.Int64
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			_, _ = io.WriteString(w, "quick")
			return
		}
		chunk := []byte(strings.Repeat("x", 16<<10))
		for range 256 { // 4 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
			sent.Add(int64(len(chunk)))
		}
	})
	var p Pool
	req, _ := http.NewRequest(http.MethodGet, "http://x/stream", nil)
	stream, err := p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://x/quick", nil)
	if _, body := get(t, &p, addr, req); body != "quick" {
		t.Fatalf("a request next to an unread stream got %q", body)
	}
	time.Sleep(50 * time.Millisecond)
	if n := sent.Load(); n > 2*Window {
		t.Fatalf("the handler wrote %d bytes ahead of a reader that took none (window %d)", n, Window)
	}
	b, err := io.ReadAll(stream.Body)
	_ = stream.Body.Close()
	if err != nil || len(b) != 4<<20 {
		t.Fatalf("stream: %d bytes, %v", len(b), err)
	}
}

// A request that comes while the server shuts down is refused, which the
// client reports as not sent (safe to send elsewhere).
func TestRequestDuringShutdownIsRefusedAsNotSent(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	addr, s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			close(started)
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	var p Pool
	held := getAsync(&p, addr, "/hold")
	<-started
	go func() { _ = s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	req, _ := http.NewRequest(http.MethodGet, "http://x/new", nil)
	if resp, err := p.RoundTrip(req, addr); !errors.Is(err, ErrNotSent) {
		if err == nil {
			_ = resp.Body.Close()
		}
		t.Fatalf("request during shutdown: %v, want ErrNotSent", err)
	}
	close(release)
	if body := <-held; body != "ok" {
		t.Fatalf("the request in flight got %q", body)
	}
}

// A request that runs inline (alone, handlers quick so far) and turns out
// slow does not hold up the next request on its connection for long.
func TestSlowInlineRequestHandsReadingOff(t *testing.T) {
	release := make(chan struct{})
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})
	var p Pool
	slow := getAsync(&p, addr, "/slow")
	time.Sleep(20 * time.Millisecond)
	req, _ := http.NewRequest(http.MethodGet, "http://x/fast", nil)
	if _, body := get(t, &p, addr, req); body != "/fast" {
		t.Fatalf("fast request got %q", body)
	}
	select {
	case <-slow:
		t.Fatal("the slow request finished first: the fast one waited for it")
	default:
	}
	close(release)
	if body := <-slow; body != "/slow" {
		t.Fatalf("slow request got %q", body)
	}
}

// Cancelling one request cancels its handler only; the connection's other
// request goes on.
func TestCancelOneStreamLeavesTheOthers(t *testing.T) {
	release := make(chan struct{})
	cancelled := make(chan string, 2)
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- r.URL.Path
		case <-release:
			_, _ = io.WriteString(w, "done")
		}
	})
	var p Pool
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://x/a", nil)
		resp, err := p.RoundTrip(req, addr)
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	other := getAsync(&p, addr, "/b")
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	if path := <-cancelled; path != "/a" {
		t.Fatalf("handler %s cancelled, want /a", path)
	}
	close(release)
	if body := <-other; body != "done" {
		t.Fatalf("the other request got %q", body)
	}
}

// A request whose handler ignores cancellation still returns at once when
// cancelled, and its connection keeps working: the reader it interrupted
// mid-wait leaves the connection's frames for the next one.
func TestCancelReturnsAtOnceWhenTheHandlerIgnoresIt(t *testing.T) {
	release := make(chan struct{})
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stuck" {
			<-release // ignores r.Context()
			_, _ = io.WriteString(w, strings.Repeat("late ", 20000))
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	t.Cleanup(func() { close(release) })
	var p Pool
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://x/stuck", nil)
	start := time.Now()
	resp, err := p.RoundTrip(req, addr)
	if err == nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("RoundTrip: %v after %v, want the deadline at once", err, time.Since(start))
	}
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, "http://x/after", nil)
		if _, body := get(t, &p, addr, req); body != "ok" {
			t.Fatalf("after the cancel: %q", body)
		}
	}
}

// A retired connection finishes the requests on it, then closes; later
// requests to the address get a new one.
func TestRetiredConnectionClosesWhenIdle(t *testing.T) {
	release := make(chan struct{})
	addr, s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	conns := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.conns)
	}
	var p Pool
	held := getAsync(&p, addr, "/hold")
	time.Sleep(50 * time.Millisecond)
	p.Retire(addr)
	req, _ := http.NewRequest(http.MethodGet, "http://x/new", nil)
	if _, body := get(t, &p, addr, req); body != "ok" {
		t.Fatalf("a request after Retire got %q", body)
	}
	if n := conns(); n != 2 {
		t.Fatalf("%d connections on the server, want the retired one and a new one", n)
	}
	close(release)
	if body := <-held; body != "ok" {
		t.Fatalf("the request on the retired connection got %q", body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for conns() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections: the retired one did not close after its last request", conns())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
