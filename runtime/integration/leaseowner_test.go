package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// sleeper marks that it began (a file in dir), then sleeps until its
// context ends or a minute passed.
var sleeper = ray.Task("it.sleeper", func(ctx context.Context, dir string) (int, error) {
	if err := os.WriteFile(filepath.Join(dir, "began"), nil, 0o644); err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
	}
	return 1, nil
})

type leaseOwner struct{ refs []ray.Ref[int] }

type sleeperAt struct{ Node, Dir string }

var leaseOwnerClass = ray.Actor("it.LeaseOwner", func(ctx context.Context) (*leaseOwner, error) { return &leaseOwner{}, nil })

// startSleeper submits a sleeper pinned to node, owned by the actor's
// process, and returns once it runs (its lease granted).
var startSleeper = ray.Method(leaseOwnerClass, "start", func(o *leaseOwner, ctx context.Context, at sleeperAt) (bool, error) {
	o.refs = append(o.refs, sleeper.Remote(ctx, at.Dir, ray.NodeAffinity(at.Node, false)))
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(at.Dir, "began")); err == nil {
			return true, nil
		}
	}
	return false, nil
})

// TestDeadOwnersLeasesEnd: a worker on one node owns a task leased on
// another; when the owner's process dies (its actor killed), the other
// node ends the lease — its worker killed, its CPU free again — instead of
// holding both until the task ends on its own (here a minute; forever for
// a task that waits on its dead owner).
func TestDeadOwnersLeasesEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ip = "127.0.0.17"
	b := startOwnNode(t, ip)
	owner, err := leaseOwnerClass.Remote(ctx, ray.NodeAffinity(nodeIDs["127.0.0.2"], false))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if ok, err := ray.Get(ctx, startSleeper.Remote(ctx, owner, sleeperAt{Node: b.id, Dir: dir})); err != nil || !ok {
		t.Fatalf("the sleeper did not start on %s: %v, %v", ip, ok, err)
	}
	nc := nodeClientAt(t, b.addr)
	st, err := nc.GetNodeStats(ctx, &rpcpb.Empty{})
	if err != nil || st.Available["CPU"] != 0 {
		t.Fatalf("%s while the sleeper runs: available %v (%v), want its one CPU leased", ip, st.GetAvailable(), err)
	}
	if err := ray.Kill(ctx, owner, true); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	for {
		st, err := nc.GetNodeStats(ctx, &rpcpb.Empty{})
		if err == nil && st.Available["CPU"] == st.Total["CPU"] {
			t.Logf("the dead owner's lease ended %.1fs after its kill", time.Since(killed).Seconds())
			return
		}
		if time.Since(killed) > 20*time.Second {
			t.Fatalf("%s's CPU still leased %.0fs after the owner died: available %v (%v)", ip, time.Since(killed).Seconds(), st.GetAvailable(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// boxed holds a Ref inside a result: its object is owned by the process of
// the task that put it.
type boxed struct{ R ray.Ref[[]byte] }

var putBoxed = ray.Task("it.put_boxed", func(ctx context.Context, n int) (boxed, error) {
	r, err := ray.Put(ctx, make([]byte, n))
	return boxed{R: r}, err
})

// TestIdleOwnerIsNotReaped: an idle worker that owns an object the driver
// borrows is not reaped (it declines the node's request to exit, as Ray's
// workers do) however long it idles, so the driver's Get works; once the
// driver drops its borrow the worker is reaped as usual.
func TestIdleOwnerIsNotReaped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ip = "127.0.0.18"
	nodeEnv[ip] = []string{"RAY_idle_worker_killing_time_threshold_ms=300"}
	t.Cleanup(func() { delete(nodeEnv, ip) })
	c := startOwnNode(t, ip)
	b, err := ray.Get(ctx, putBoxed.Remote(ctx, 4<<10, ray.NodeAffinity(c.id, false)))
	if err != nil {
		t.Fatal(err)
	}
	nc := nodeClientAt(t, c.addr)
	time.Sleep(3 * time.Second) // ten idle timeouts
	st, err := nc.GetNodeStats(ctx, &rpcpb.Empty{})
	if err != nil || st.NumWorkers == 0 {
		t.Fatalf("%s after ten idle timeouts: %d workers (%v), want the owner kept", ip, st.GetNumWorkers(), err)
	}
	v, err := ray.Get(ctx, b.R)
	if err != nil || len(v) != 4<<10 {
		t.Fatalf("Get of the object an idle worker owns: %d bytes, %v", len(v), err)
	}
	b.R.Release()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := nc.GetNodeStats(ctx, &rpcpb.Empty{})
		if err == nil && st.NumWorkers == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still has %d workers after the borrow was dropped (%v), want the idle one reaped", ip, st.GetNumWorkers(), err)
		}
	}
}
