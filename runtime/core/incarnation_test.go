package core

import (
	"context"
	"errors"
	"io"
	"log"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestJudgeGCS(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const limit = 60 * time.Second
	cases := []struct {
		name         string
		joined, seen string
		silent       time.Duration
		timeout      time.Duration
		restarted    bool
		unreachable  bool
	}{
		{name: "same cluster", joined: "a", seen: "a"},
		{name: "a new incarnation on durable storage keeps the id", joined: "a", seen: "a", silent: 30 * time.Second},
		{name: "no id in the reply", joined: "a", seen: ""},
		{name: "not joined yet", joined: "", seen: "b"},
		{name: "another cluster", joined: "a", seen: "b", restarted: true},
		{name: "silent up to the bound", joined: "a", silent: limit},
		{name: "silent past the bound", joined: "a", silent: limit + time.Millisecond, unreachable: true},
		{name: "no bound (a worker)", joined: "a", silent: time.Hour, timeout: -1},
	}
	for _, c := range cases {
		timeout := limit
		if c.timeout < 0 {
			timeout = 0
		}
		got := judgeGCS(c.joined, c.seen, t0, t0.Add(c.silent), timeout)
		switch {
		case c.restarted:
			if got == nil || got.OldClusterID != c.joined || got.NewClusterID != c.seen {
				t.Errorf("%s: %+v, want a restart from %s to %s", c.name, got, c.joined, c.seen)
			}
		case c.unreachable:
			if got == nil || got.Unreachable != c.silent || got.NewClusterID != "" {
				t.Errorf("%s: %+v, want unreachable for %s", c.name, got, c.silent)
			}
		case got != nil:
			t.Errorf("%s: %+v, want no loss", c.name, got)
		}
	}
}

func TestAnswered(t *testing.T) {
	hdr := metadata.Pairs(clusterIDHeader, "a")
	cases := []struct {
		md   metadata.MD
		err  error
		want bool
	}{
		{nil, nil, true},
		{nil, status.Error(codes.Unavailable, "connection refused"), false},
		{nil, status.Error(codes.DeadlineExceeded, "slow"), false},
		{nil, context.Canceled, false},
		{hdr, status.Error(codes.Unavailable, "storage did not confirm"), true}, // the GCS itself said so
		{nil, status.Error(codes.Unauthenticated, "bad token"), true},
		{nil, status.Error(codes.NotFound, "no such actor"), true},
	}
	for _, c := range cases {
		if got := answered(c.md, c.err); got != c.want {
			t.Errorf("answered(%v, %v) = %v, want %v", c.md, c.err, got, c.want)
		}
	}
}

func TestReconnectTimeout(t *testing.T) {
	cases := []struct {
		v       string
		want    time.Duration
		invalid bool
	}{
		{"", 60 * time.Second, false},
		{"5", 5 * time.Second, false},
		{"0.5", 500 * time.Millisecond, false},
		{"0", 60 * time.Second, true},
		{"-3", 60 * time.Second, true},
		{"soon", 60 * time.Second, true},
	}
	for _, c := range cases {
		got, err := reconnectTimeout(func(k string) string {
			if k != envReconnectTimeout {
				t.Fatalf("read %s", k)
			}
			return c.v
		})
		if got != c.want || (err != nil) != c.invalid {
			t.Errorf("%q: %s, %v; want %s (invalid %v)", c.v, got, err, c.want, c.invalid)
		}
	}
}

// fakeGCS answers Invoke with the cluster id it is set to, or err, and
// records the cluster id each request named.
type fakeGCS struct {
	mu      sync.Mutex
	cluster string
	err     error
	calls   int
	named   []string
}

func (f *fakeGCS) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	md, _ := metadata.FromOutgoingContext(ctx)
	f.named = append(f.named, strings.Join(md.Get(clusterIDHeader), ","))
	if f.err != nil && f.cluster == "" {
		return f.err
	}
	for _, o := range opts {
		if h, ok := o.(grpc.HeaderCallOption); ok {
			*h.HeaderAddr = metadata.Pairs(clusterIDHeader, f.cluster)
		}
	}
	return f.err
}

func (f *fakeGCS) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, errors.New("no streams")
}

func (f *fakeGCS) set(cluster string, err error) {
	f.mu.Lock()
	f.cluster, f.err = cluster, err
	f.mu.Unlock()
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestClusterWatchNoticesANewCluster: the first reply names the cluster;
// later requests carry it; a new incarnation with the same id changes
// nothing; a reply naming another cluster ends it, once, and from then on
// calls fail at once with the GCSLostError without reaching the GCS.
func TestClusterWatchNoticesANewCluster(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	var lost []*GCSLostError
	cw := newClusterWatch("gcs:1", "", time.Minute, clock.Now, func(l *GCSLostError) { lost = append(lost, l) })
	f := &fakeGCS{cluster: "a"}
	g := rpcpb.NewGcsClient(cw.wrap(f))
	ctx := context.Background()
	for range 2 {
		if _, err := g.CheckAlive(ctx, &rpcpb.CheckAliveRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if f.named[0] != "" || f.named[1] != "a" {
		t.Fatalf("requests named clusters %q, want none and then a", f.named)
	}
	// The head restarts: down for a while (the calls fail), then back.
	f.set("", status.Error(codes.Unavailable, "connection refused"))
	clock.advance(30 * time.Second)
	if _, err := g.CheckAlive(ctx, &rpcpb.CheckAliveRequest{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("while the GCS is down: %v", err)
	}
	f.set("a", nil) // durable storage: the same cluster
	if _, err := g.CheckAlive(ctx, &rpcpb.CheckAliveRequest{}); err != nil || len(lost) != 0 {
		t.Fatalf("a restart on durable storage: %v, lost %v", err, lost)
	}
	// Without storage the GCS has a new id and refuses the old cluster's calls.
	f.set("b", status.Error(codes.FailedPrecondition, "this request belongs to cluster a"))
	_, err := g.CheckAlive(ctx, &rpcpb.CheckAliveRequest{})
	var l *GCSLostError
	if !errors.As(err, &l) || l.OldClusterID != "a" || l.NewClusterID != "b" || l.GcsAddress != "gcs:1" {
		t.Fatalf("after the restart without storage: %v", err)
	}
	if !strings.Contains(err.Error(), "restarted without GCS fault tolerance") {
		t.Fatalf("unclear error: %v", err)
	}
	calls := f.calls
	if _, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{}); !errors.As(err, &l) {
		t.Fatalf("a call after the loss: %v", err)
	}
	if f.calls != calls {
		t.Fatal("a call after the loss reached the GCS")
	}
	if len(lost) != 1 {
		t.Fatalf("onLost called %d times, want once", len(lost))
	}
}

// TestClusterWatchGivesUpOnASilentGCS: only the time since the last answer
// counts; an answer resets it.
func TestClusterWatchGivesUpOnASilentGCS(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	cw := newClusterWatch("gcs:1", "a", time.Minute, clock.Now, nil)
	f := &fakeGCS{cluster: "a"}
	g := rpcpb.NewGcsClient(cw.wrap(f))
	ctx := context.Background()
	f.set("", status.Error(codes.Unavailable, "connection refused"))
	clock.advance(50 * time.Second)
	_, _ = g.CheckAlive(ctx, &rpcpb.CheckAliveRequest{})
	if l := cw.check(); l != nil {
		t.Fatalf("lost after 50s: %v", l)
	}
	f.set("a", nil)
	_, _ = g.CheckAlive(ctx, &rpcpb.CheckAliveRequest{})
	f.set("", status.Error(codes.Unavailable, "connection refused"))
	clock.advance(59 * time.Second)
	if l := cw.check(); l != nil {
		t.Fatalf("lost 59s after an answer: %v", l)
	}
	clock.advance(2 * time.Second)
	l := cw.check()
	if l == nil || l.Unreachable != 61*time.Second || !strings.Contains(l.Error(), envReconnectTimeout) {
		t.Fatalf("61s without an answer: %v", l)
	}
}

// TestGCSLostEndsTheDriver: the driver's pending tasks fail with the
// error (its Gets return it), and a driver that asked for it exits with
// status 1.
func TestGCSLostEndsTheDriver(t *testing.T) {
	exited := make(chan int, 1)
	saved := exitProcess
	exitProcess = func(code int) { exited <- code }
	defer func() { exitProcess = saved }()
	w := &Worker{log: log.New(io.Discard, "", 0), table: ownership.New(), pending: map[string]*pendingTask{},
		cfg: Config{ExitWhenGCSLost: true}}
	w.table.AddTask(&ownership.Task{ID: "t1", Returns: []string{"t1"}})
	w.pending["t1"] = &pendingTask{spec: &rpcpb.TaskSpec{TaskId: "t1"}}
	lost := &GCSLostError{GcsAddress: "gcs:1", OldClusterID: "a", NewClusterID: "b"}
	w.gcsLost(lost)
	e, ok := w.table.Get("t1")
	if !ok || !e.Ready || !errors.Is(e.Loc.Err, lost) || len(w.pending) != 0 {
		t.Fatalf("the pending task: %+v (known %v), %d pending", e, ok, len(w.pending))
	}
	select {
	case code := <-exited:
		if code != 1 {
			t.Fatalf("exit status %d, want 1", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the driver did not exit")
	}
}
