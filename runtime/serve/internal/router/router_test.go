package router

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

// server runs h as a replica does: a hop server.
func server(t *testing.T, h http.HandlerFunc) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &hop.Server{Handler: h}
	go s.Serve(l)
	t.Cleanup(s.Close)
	return l.Addr().String()
}

func send(ctx context.Context, r *Router) (string, error) {
	resp, done, err := r.Send(ctx, 5*time.Second, "", func(addr string) (*http.Request, error) {
		return http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	})
	if err != nil {
		return "", err
	}
	defer done()
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return string(b), nil
}

func TestRetriesOnDeadAndDrainingReplicas(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	_ = l.Close() // connection refused
	draining := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(RejectHeader, "draining")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	good := server(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	r := New("")
	r.Update(routes.Deployment{MaxOngoing: 5, MaxQueued: -1, Replicas: []routes.Replica{{ID: "dead", Address: dead}, {ID: "draining", Address: draining}, {ID: "good", Address: good}}})
	for i := 0; i < 20; i++ {
		if body, err := send(context.Background(), r); err != nil || body != "ok" {
			t.Fatalf("request %d: %q %v", i, body, err)
		}
	}
}

func TestMaxOngoingQueueAndShed(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	inflight, peak := 0, 0
	addr := server(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inflight++
		peak = max(peak, inflight)
		mu.Unlock()
		<-release
		mu.Lock()
		inflight--
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})
	r := New("")
	r.Update(routes.Deployment{MaxOngoing: 2, MaxQueued: 1, Replicas: []routes.Replica{{ID: "a", Address: addr}}})
	var wg sync.WaitGroup
	results := make(chan error, 3)
	for i := 0; i < 3; i++ { // 2 run, 1 queues
		wg.Add(1)
		go func() { defer wg.Done(); _, err := send(context.Background(), r); results <- err }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		q := r.queued
		r.mu.Unlock()
		if q == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the third request never queued")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := send(context.Background(), r); !errors.Is(err, ErrShed) {
		t.Fatalf("fourth request: %v, want ErrShed", err)
	}
	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("admitted request failed: %v", err)
		}
	}
	if peak > 2 {
		t.Errorf("peak in-flight %d > max_ongoing_requests 2", peak)
	}
}

func TestPowerOfTwoPrefersTheLessLoaded(t *testing.T) {
	r := New("")
	r.Update(routes.Deployment{MaxOngoing: 100, MaxQueued: -1, Replicas: []routes.Replica{{ID: "a", Address: "a"}, {ID: "b", Address: "b"}}})
	r.reps[0].ongoing = 10
	for i := 0; i < 50; i++ {
		r.mu.Lock()
		x := r.pickLocked(nil, time.Now(), "", true)
		r.mu.Unlock()
		if x.id != "b" {
			t.Fatalf("picked %s (ongoing %d) over b (ongoing %d)", x.id, x.ongoing, r.reps[1].ongoing)
		}
	}
	// Counts survive a table update that keeps the replica.
	r.Update(routes.Deployment{Replicas: []routes.Replica{{ID: "a", Address: "a"}, {ID: "c", Address: "c"}}})
	if r.reps[0].ongoing != 10 || r.Len() != 2 {
		t.Fatalf("after update: %+v", r.reps)
	}
}

func TestWaitsForAReplicaThenTimesOut(t *testing.T) {
	r := New("")
	ctx := context.Background()
	resp, done, err := r.Send(ctx, 100*time.Millisecond, "", func(addr string) (*http.Request, error) { return nil, nil })
	if err == nil {
		_ = resp.Body.Close()
		done()
	}
	if !errors.Is(err, ErrNoReplica) {
		t.Fatalf("no replicas: %v, want ErrNoReplica", err)
	}
	addr := server(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "late") })
	go func() {
		time.Sleep(50 * time.Millisecond)
		r.Update(routes.Deployment{Replicas: []routes.Replica{{ID: "x", Address: addr}}})
	}()
	if body, err := send(ctx, r); err != nil || body != "late" {
		t.Fatalf("request queued until a replica appears: %q %v", body, err)
	}
}

// A replica on the router's own node that serves on a unix socket is reached
// through it (its TCP address here answers differently); a router on another
// node uses TCP.
func TestSameNodeReplicaOverUnixSocket(t *testing.T) {
	sock := t.TempDir() + "/r.sock"
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	us := &hop.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "unix "+r.Host)
	})}
	go us.Serve(ul)
	t.Cleanup(us.Close)
	tcp := server(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "tcp") })
	rep := routes.Replica{ID: "a", Address: tcp, NodeID: "n1", Socket: sock}
	for _, tc := range []struct{ node, want string }{{"n1", "unix " + tcp}, {"n2", "tcp"}, {"", "tcp"}} {
		r := New(tc.node)
		r.Update(routes.Deployment{MaxOngoing: 5, MaxQueued: -1, Replicas: []routes.Replica{rep}})
		got, err := send(context.Background(), r)
		if err != nil || got != tc.want {
			t.Errorf("router on node %q: %q, %v; want %q", tc.node, got, err, tc.want)
		}
	}
}

// A streamed body survives a retry on another replica when the first one
// turned the request away without reading it; a request whose replica died
// after reading part of it is not sent again (its body is gone).
func TestStreamedBodiesRetryOnlyWhenUntouched(t *testing.T) {
	draining := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(RejectHeader, "draining")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	good := server(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	})
	body := strings.Repeat("x", 1<<20)
	sendBody := func(r *Router, src io.Reader) (string, error) {
		resp, done, err := r.Send(context.Background(), 5*time.Second, "", func(addr string) (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", io.NopCloser(src))
			return req, err
		})
		if err != nil {
			return "", err
		}
		defer done()
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return string(b), err
	}
	r := New("")
	r.Update(routes.Deployment{MaxOngoing: 5, MaxQueued: -1, Replicas: []routes.Replica{{ID: "draining", Address: draining}, {ID: "good", Address: good}}})
	for i := range 10 {
		if got, err := sendBody(r, strings.NewReader(body)); err != nil || got != body {
			t.Fatalf("request %d: %d bytes back, %v", i, len(got), err)
		}
	}

	// A replica that reads some of the body, then dies.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dying := &hop.Server{}
	dying.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadFull(r.Body, make([]byte, 1000))
		go dying.Close()
		<-r.Context().Done()
	})
	go dying.Serve(l)
	t.Cleanup(dying.Close)
	r2 := New("")
	r2.Update(routes.Deployment{MaxOngoing: 5, MaxQueued: -1, Replicas: []routes.Replica{{ID: "dying", Address: l.Addr().String()}}})
	_, err = sendBody(r2, strings.NewReader(body))
	if !errors.Is(err, hop.ErrBodySent) {
		t.Fatalf("a request whose replica died mid-body: %v, want hop.ErrBodySent", err)
	}
}

// Model multiplexing: a model's requests go where it is held (by the
// replicas' reports, or by where this router sent it last), a new model to
// the replica holding the fewest, and a request whose holders are busy
// waits for them (strict) before any replica will do.
func TestPickForModel(t *testing.T) {
	r := New("")
	r.Update(routes.Deployment{MaxOngoing: 1, MaxQueued: -1, Replicas: []routes.Replica{
		{ID: "a", Address: "a:1", Models: []string{"m1", "m2"}},
		{ID: "b", Address: "b:1", Models: []string{"m3"}},
		{ID: "c", Address: "c:1"},
	}})
	now := time.Now()
	pick := func(model string, strict bool) string {
		t.Helper()
		r.mu.Lock()
		defer r.mu.Unlock()
		x := r.pickLocked(nil, now, model, strict)
		if x == nil {
			return ""
		}
		return x.id
	}
	for range 20 {
		if got := pick("m1", true); got != "a" {
			t.Fatalf("m1 (held by a) went to %q", got)
		}
		if got := pick("m3", true); got != "b" {
			t.Fatalf("m3 (held by b) went to %q", got)
		}
	}
	// Nobody holds m4: the replica with the fewest models, c, and then c
	// again (sticky) though the table does not say so yet.
	if got := pick("m4", true); got != "c" {
		t.Fatalf("new model m4 went to %q, want c (no models)", got)
	}
	for range 20 {
		if got := pick("m4", true); got != "c" {
			t.Fatalf("m4 went to %q after c took it", got)
		}
	}
	// m5, new too: b and c hold one model each (c's not yet reported), a
	// two: b or c.
	got5 := pick("m5", true)
	if got5 != "b" && got5 != "c" {
		t.Fatalf("new model m5 went to %q, want b or c (one model each)", got5)
	}
	// a is full: m1 waits for it, unless strict is over.
	r.mu.Lock()
	r.reps[0].ongoing = 1
	r.mu.Unlock()
	if got := pick("m1", true); got != "" {
		t.Fatalf("m1 went to %q while its holder was busy", got)
	}
	if got := pick("m1", false); got == "" || got == "a" {
		t.Fatalf("m1 after the wait went to %q, want another replica", got)
	}
	// The sticky choice ends: m4's holder is whoever the table says.
	now = now.Add(stickyFor + time.Second)
	r.Update(routes.Deployment{MaxOngoing: 1, MaxQueued: -1, Replicas: []routes.Replica{
		{ID: "a", Address: "a:1"}, {ID: "b", Address: "b:1", Models: []string{"m3", "m4"}}, {ID: "c", Address: "c:1"},
	}})
	if got := pick("m4", true); got != "b" {
		t.Fatalf("m4 went to %q, want b (the table's holder)", got)
	}
	// Without a model: any replica (a has room again).
	r.mu.Lock()
	r.reps[0].ongoing = 0
	r.mu.Unlock()
	seen := map[string]bool{}
	for range 100 {
		seen[pick("", true)] = true
	}
	if len(seen) != 3 {
		t.Fatalf("requests without a model reached %v", seen)
	}
}
