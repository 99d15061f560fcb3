package node

import (
	"context"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/gcs"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestJudgeCluster(t *testing.T) {
	cases := []struct {
		registered, seen string
		want             clusterVerdict
	}{
		{"", "", sameCluster},   // no header yet, nothing known
		{"", "a", firstCluster}, // the first reply names the cluster
		{"a", "a", sameCluster}, // a head restarted on durable storage keeps its id
		{"a", "", sameCluster},  // an error before the GCS's interceptor carries no id
		{"a", "b", newCluster},  // a head restarted without storage
		{"b", "a", newCluster},  // whichever way
	}
	for _, c := range cases {
		if got := judgeCluster(c.registered, c.seen); got != c.want {
			t.Errorf("judgeCluster(%q, %q) = %v, want %v", c.registered, c.seen, got, c.want)
		}
	}
}

var quiet = log.New(io.Discard, "", 0)

// gcsOn serves a GCS on addr ("" = a new port) until the test ends or
// stop is called.
func gcsOn(t *testing.T, addr string, st storage.Store) (*gcs.Server, string, func()) {
	t.Helper()
	cfg := gcs.Config{Logger: quiet, HeartbeatTimeout: time.Hour, ReregisterTimeout: time.Hour, Dir: t.TempDir()}
	var g *gcs.Server
	if st != nil {
		cfg.Storage = st
		var err error
		if g, err = gcs.Open(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	} else {
		g = gcs.New(cfg)
	}
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	var err error
	for i := 0; i < 50; i++ { // the port of a stopped GCS may take a moment to free
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(g.UnaryInterceptor()), grpc.ChainStreamInterceptor(g.StreamInterceptor()))
	rpcpb.RegisterGcsServer(srv, g)
	go func() { _ = srv.Serve(lis) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			srv.Stop()
			g.Stop()
		}
	}
	t.Cleanup(stop)
	return g, lis.Addr().String(), stop
}

// fakeWorker puts a real process (sleep) in the node's idle pool as a
// worker of job "j": what the node must kill when it drops an incarnation.
func fakeWorker(t *testing.T, n *Node) <-chan struct{} {
	t.Helper()
	cmd := exec.Command("sleep", "120")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	w := &worker{id: "w-" + t.Name(), jobID: "j", hash: "h", pid: cmd.Process.Pid, proc: cmd.Process, epoch: n.epoch,
		registered: make(chan struct{})}
	n.workers[w.id] = w
	n.parkIdleLocked(w)
	n.mu.Unlock()
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		n.workerExited(w, err, "")
		close(exited)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	return exited
}

func waitFor(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeDropsANewClustersPredecessor: a node whose GCS comes back with
// another cluster id (no storage) kills its workers, forgets leases,
// bundles, demand and pools, frees its objects and registers again; one
// whose GCS comes back with the same cluster id (durable storage) keeps
// everything.
func TestNodeDropsANewClustersPredecessor(t *testing.T) {
	st := storage.NewMemory()
	g1, addr, stop1 := gcsOn(t, "", st)
	n, err := Start(Config{GcsAddress: addr, Resources: map[string]float64{"CPU": 2}, Dir: t.TempDir(),
		HeartbeatInterval: 50 * time.Millisecond, Logger: quiet, StoreCapacity: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	cluster := func() string {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.clusterID
	}
	if cluster() != g1.ClusterID() {
		t.Fatalf("registered under cluster %q, want %q", cluster(), g1.ClusterID())
	}
	ctx := context.Background()
	if rep, err := n.ReserveBundles(ctx, &rpcpb.ReserveBundlesRequest{PlacementGroupId: "pg",
		Bundles: map[int32]*rpcpb.Bundle{0: {Resources: map[string]float64{"CPU": 1}}}}); err != nil || !rep.Ok {
		t.Fatalf("reserve: %v %v", rep, err)
	}
	if err := n.Store.Put("obj", []byte("x")); err != nil {
		t.Fatal(err)
	}
	idleExited := fakeWorker(t, n)
	// A request that cannot be granted (one CPU is left) waits as demand.
	waiting := make(chan error, 1)
	go func() {
		_, err := n.RequestWorkerLease(ctx, &rpcpb.LeaseRequest{JobId: "j", Resources: map[string]float64{"CPU": 2}})
		waiting <- err
	}()
	waitFor(t, "the request queued", 10*time.Second, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		queued := int64(0)
		for _, d := range n.demand {
			queued += d.Count
		}
		return queued == 1
	})

	// The same cluster (a GCS on the same storage): nothing is dropped.
	stop1()
	g2, _, stop2 := gcsOn(t, addr, st)
	if g2.ClusterID() != g1.ClusterID() {
		t.Fatal("a GCS on the same storage has another cluster id")
	}
	waitFor(t, "registered with the restarted GCS", 20*time.Second, func() bool {
		v, err := g2.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		return err == nil && len(v.Nodes) == 1 && v.Nodes[0].Alive
	})
	select {
	case <-idleExited:
		t.Fatal("a worker died on a restart that kept the cluster id")
	case err := <-waiting:
		t.Fatalf("the queued request ended (%v) on a restart that kept the cluster id", err)
	default:
	}
	if !n.Store.Contains("obj") || len(n.bundles) != 1 {
		t.Fatal("a restart that kept the cluster id lost the node's objects or bundles")
	}

	// A new cluster (a GCS without storage).
	stop2()
	g3, _, _ := gcsOn(t, addr, nil)
	select {
	case <-idleExited:
	case <-time.After(20 * time.Second):
		t.Fatal("the old cluster's worker still runs")
	}
	select {
	case err := <-waiting:
		if status.Code(err) != codes.Aborted {
			t.Fatalf("the old cluster's queued request ended with %v, want Aborted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the old cluster's queued request still waits")
	}
	waitFor(t, "registered with the new cluster", 20*time.Second, func() bool {
		v, err := g3.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		return err == nil && len(v.Nodes) == 1 && v.Nodes[0].Alive
	})
	if cluster() != g3.ClusterID() {
		t.Fatalf("node's cluster %q, want the new %q", cluster(), g3.ClusterID())
	}
	if n.Store.Contains("obj") {
		t.Fatal("the old cluster's object is still in the store")
	}
	n.mu.Lock()
	avail, bundles, leases, demand, idle, workers := n.available["CPU"], len(n.bundles), len(n.leases), len(n.demand), n.idle.size(), len(n.workers)
	n.mu.Unlock()
	if avail != 2 || bundles != 0 || leases != 0 || demand != 0 || idle != 0 || workers != 0 {
		t.Fatalf("after the drop: CPU %v available, %d bundles, %d leases, %d demand, %d idle workers, %d workers; want 2 and nothing",
			avail, bundles, leases, demand, idle, workers)
	}
	// The new cluster can use the whole node.
	rep, err := n.ReserveBundles(ctx, &rpcpb.ReserveBundlesRequest{PlacementGroupId: "pg2",
		Bundles: map[int32]*rpcpb.Bundle{0: {Resources: map[string]float64{"CPU": 2}}}})
	if err != nil || !rep.Ok {
		t.Fatalf("the new cluster cannot reserve the node's CPUs: %v %v", rep, err)
	}
}

func TestCachedBinaryNoticesARebuild(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(p, []byte("one"), 0o755); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	c := cachedBinary{path: p, seen: fi}
	if !c.current() {
		t.Fatal("an untouched file is not current")
	}
	// Rebuilt in place (a new file renamed over it, as the go tool does).
	tmp := p + ".new"
	if err := os.WriteFile(tmp, []byte("two!"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	if c.current() {
		t.Fatal("a file replaced after hashing is still trusted")
	}
	if !(cachedBinary{path: filepath.Join(t.TempDir(), "x")}).current() {
		t.Fatal("a downloaded copy (named by its hash) is not trusted")
	}
}
