package core

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/gcs"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestBackoffDelay(t *testing.T) {
	base, max := 100*time.Millisecond, 2*time.Second
	want := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000}
	for i, w := range want {
		if got := backoffDelay(base, max, i); got != w*time.Millisecond {
			t.Errorf("attempt %d: %s, want %s", i, got, w*time.Millisecond)
		}
	}
	if got := backoffDelay(base, max, 1000); got != max {
		t.Errorf("attempt 1000: %s, want the cap %s", got, max)
	}
}

func TestGCSRetryDecision(t *testing.T) {
	r := gcsRetry{base: 100 * time.Millisecond, max: time.Second, limit: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	unavailable := status.Error(codes.Unavailable, "connection refused")
	cases := []struct {
		name    string
		method  string
		err     error
		attempt int
		at      time.Duration // since the first failure
		retry   bool
		delay   time.Duration
	}{
		{"down: first retry", rpcpb.Gcs_GetNodes_FullMethodName, unavailable, 0, 0, true, 100 * time.Millisecond},
		{"down: backoff grows", rpcpb.Gcs_KvGet_FullMethodName, unavailable, 3, 2 * time.Second, true, 800 * time.Millisecond},
		{"down: capped", rpcpb.Gcs_MarkJobFinished_FullMethodName, unavailable, 9, 9 * time.Second, true, time.Second},
		{"down past the limit", rpcpb.Gcs_GetNodes_FullMethodName, unavailable, 40, 10 * time.Second, false, 0},
		{"an answer is not retried", rpcpb.Gcs_GetActor_FullMethodName, status.Error(codes.NotFound, "no actor"), 0, 0, false, 0},
		{"a deadline is not retried", rpcpb.Gcs_GetNodes_FullMethodName, status.Error(codes.DeadlineExceeded, "late"), 0, 0, false, 0},
		{"creating calls are not retried", rpcpb.Gcs_AddJob_FullMethodName, unavailable, 0, 0, false, 0},
		{"nor actors", rpcpb.Gcs_CreateActor_FullMethodName, unavailable, 0, 0, false, 0},
		{"nor groups", rpcpb.Gcs_CreatePlacementGroup_FullMethodName, unavailable, 0, 0, false, 0},
		{"a non-status error is not retried", rpcpb.Gcs_GetNodes_FullMethodName, errors.New("boom"), 0, 0, false, 0},
	}
	for _, c := range cases {
		d, ok := r.next(c.method, c.err, c.attempt, t0, t0.Add(c.at))
		if ok != c.retry || d != c.delay {
			t.Errorf("%s: (%s, %v), want (%s, %v)", c.name, d, ok, c.delay, c.retry)
		}
	}
}

// testGCS is a GCS on a fixed loopback port with a file store, which a test
// stops and starts again like a head restart.
type testGCS struct {
	t    *testing.T
	dir  string
	port int
	srv  *grpc.Server
	g    *gcs.Server
	st   storage.Store
}

func (h *testGCS) start() {
	h.t.Helper()
	st, err := storage.OpenFile(h.dir, "ns")
	if err != nil {
		h.t.Fatal(err)
	}
	g, err := gcs.Open(context.Background(), gcs.Config{Storage: st, Dir: h.dir, Logger: log.New(io.Discard, "", 0),
		HeartbeatTimeout: time.Hour, ReregisterTimeout: time.Hour})
	if err != nil {
		h.t.Fatal(err)
	}
	var lis net.Listener
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The port was ours a moment ago; the kernel may still hold it.
		if lis, err = rpcutil.Listen("127.0.0.1", h.port); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.port = lis.Addr().(*net.TCPAddr).Port
	h.srv = grpc.NewServer(rpcutil.ServerOptions(auth.Config{})...)
	rpcpb.RegisterGcsServer(h.srv, g)
	go h.srv.Serve(lis)
	h.g, h.st = g, st
}

func (h *testGCS) stop() {
	h.srv.Stop()
	h.g.Stop()
	_ = h.st.Close()
}

func (h *testGCS) addr() string { return "127.0.0.1:" + strconv.Itoa(h.port) }

// TestGCSCallsWaitOutARestart: calls made while the GCS is down wait and
// are answered by the restarted GCS (on the same file store): a read, an
// idempotent write, and a creating call that is sent exactly once.
func TestGCSCallsWaitOutARestart(t *testing.T) {
	h := &testGCS{t: t, dir: t.TempDir()}
	h.start()
	t.Cleanup(func() { h.stop() })
	conn, err := rpcutil.Dial(h.addr(), auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := rpcpb.NewGcsClient(newGCSConn(conn))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.KvPut(ctx, &rpcpb.KvRequest{Namespace: "t", Key: "k", Value: []byte("v"), Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	before, err := c.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}

	h.stop()
	// The calls are made while the GCS is known to be down: a creating call
	// sent on the connection in the instant before the client saw it close
	// fails (it may have been executed), which is the answer for a call in
	// flight at the crash, not for one made during the outage.
	for st := conn.GetState(); st == connectivity.Ready; st = conn.GetState() {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		changed := conn.WaitForStateChange(wctx, st)
		wcancel()
		if !changed {
			t.Fatalf("the connection stayed %s after the GCS stopped", st)
		}
	}
	type result struct {
		what string
		err  error
		at   time.Time
	}
	results := make(chan result, 3)
	go func() {
		v, err := c.KvGet(ctx, &rpcpb.KvRequest{Namespace: "t", Key: "k"})
		if err == nil && string(v.Value) != "v" {
			err = errors.New("KvGet after the restart: " + string(v.Value))
		}
		results <- result{"KvGet", err, time.Now()}
	}()
	go func() {
		_, err := c.KvPut(ctx, &rpcpb.KvRequest{Namespace: "t", Key: "k2", Value: []byte("w"), Overwrite: true})
		results <- result{"KvPut", err, time.Now()}
	}()
	go func() {
		_, err := c.AddJob(ctx, &rpcpb.JobInfo{BinaryHash: "h", Namespace: "default"})
		results <- result{"AddJob", err, time.Now()}
	}()
	// Down for longer than a few backoff steps.
	select {
	case r := <-results:
		t.Fatalf("%s returned while the GCS was down: %v", r.what, r.err)
	case <-time.After(1500 * time.Millisecond):
	}
	restarted := time.Now()
	h.start()
	for i := 0; i < 3; i++ {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("%s across the restart: %v", r.what, r.err)
			}
			if r.at.Before(restarted) {
				t.Fatalf("%s answered before the GCS was back", r.what)
			}
		case <-ctx.Done():
			t.Fatal("calls did not return after the GCS came back")
		}
	}
	after, err := c.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Jobs) != len(before.Jobs)+1 {
		t.Fatalf("%d jobs after one AddJob during the outage, want %d", len(after.Jobs), len(before.Jobs)+1)
	}
	v, err := c.KvGet(ctx, &rpcpb.KvRequest{Namespace: "t", Key: "k2"})
	if err != nil || string(v.Value) != "w" {
		t.Fatalf("the write made during the outage: %v %q", err, v.GetValue())
	}
}

// TestGCSCallGivesUp: with no GCS coming back, a retried call ends with
// UNAVAILABLE once the outage limit has passed, and a cancelled context
// ends it at once.
func TestGCSCallGivesUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	conn, err := rpcutil.Dial(addr, auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gc := newGCSConn(conn)
	gc.retry.limit = 700 * time.Millisecond
	c := rpcpb.NewGcsClient(gc)
	start := time.Now()
	_, err = c.GetNodes(context.Background(), &rpcpb.GetNodesRequest{})
	took := time.Since(start)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("GetNodes with no GCS: %v, want UNAVAILABLE", err)
	}
	if took < gc.retry.limit || took > gc.retry.limit+10*time.Second {
		t.Fatalf("gave up after %s, want just after the %s limit", took, gc.retry.limit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	gc.retry.limit = time.Hour
	start = time.Now()
	if _, err := c.GetNodes(ctx, &rpcpb.GetNodesRequest{}); err == nil {
		t.Fatal("GetNodes with no GCS succeeded")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a call whose context ended after 300ms returned after %s", took)
	}
}
