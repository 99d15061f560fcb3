package integration

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
	stateapi "github.com/goray-dev/goray/runtime/state"
)

// Refs inside values across the head and two nodes (Ray's borrower
// protocol): the owner of an object is the process that made it, the
// others that got a Ref inside a value borrow it.

// borrowBundle carries Refs in a struct.
type borrowBundle struct {
	Big   ray.Ref[[]byte]
	Small ray.Ref[string]
	Child ray.Ref[string]
}

const borrowBigSize = 300 << 10 // over the inline threshold: in a node's store

// borrowMake runs on one node: it puts a large and a small object and
// submits a task to the other node, and returns Refs to all three (the
// worker running it owns them).
var borrowMake = ray.Task("it.borrow.make", func(ctx context.Context, other string) (borrowBundle, error) {
	big, err := ray.Put(ctx, bytes.Repeat([]byte{7}, borrowBigSize))
	if err != nil {
		return borrowBundle{}, err
	}
	small, err := ray.Put(ctx, "small:"+ray.NodeID())
	if err != nil {
		return borrowBundle{}, err
	}
	child := whereAmI.Remote(ctx, 0, ray.NodeAffinity(other, false))
	return borrowBundle{Big: big, Small: small, Child: child}, nil
})

func TestNestedRefsFromAWorkersResult(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n2, n3 := nodeIDs["127.0.0.2"], nodeIDs["127.0.0.3"]
	b, err := ray.Get(ctx, borrowMake.Remote(ctx, n3, ray.NodeAffinity(n2, false)))
	if err != nil {
		t.Fatal(err)
	}
	// The task's worker on 127.0.0.2 owns them; this driver borrows them.
	for _, owner := range []string{b.Big.OwnerAddress(), b.Small.OwnerAddress(), b.Child.OwnerAddress()} {
		if host, _, _ := net.SplitHostPort(owner); host != "127.0.0.2" {
			t.Fatalf("owner %q: want the worker on 127.0.0.2", owner)
		}
	}
	// The worker is idle by now (its lease went back after the task): its
	// objects are there for the borrower all the same.
	time.Sleep(500 * time.Millisecond)
	big, err := ray.Get(ctx, b.Big)
	if err != nil || len(big) != borrowBigSize || big[0] != 7 || big[borrowBigSize-1] != 7 {
		t.Fatalf("big: %d bytes, %v", len(big), err)
	}
	if small, err := ray.Get(ctx, b.Small); err != nil || small != "small:"+n2 {
		t.Fatalf("small: %q, %v", small, err)
	}
	if child, err := ray.Get(ctx, b.Child); err != nil || child != n3 {
		t.Fatalf("child ran on %q (%v), want %s", child, err, n3)
	}
	// A borrower that drops its Refs lets the owner free them.
	id := b.Big.ID()
	if !listedObject(ctx, t, id) {
		t.Fatalf("object %s is not in the state API's list while borrowed", id)
	}
	b.Big.Release()
	b.Small.Release()
	b.Child.Release()
	waitUnlisted(ctx, t, id)
}

// borrowKeeper borrows a Ref and keeps it until told to drop it.
type borrowKeeper struct{ r ray.Ref[[]byte] }

var borrowKeeperClass = ray.Actor("it.borrow.Keeper", func(ctx context.Context) (*borrowKeeper, error) { return &borrowKeeper{}, nil })

var borrowKeep = ray.Method(borrowKeeperClass, "keep", func(k *borrowKeeper, ctx context.Context, b borrowBundle) (string, error) {
	k.r = b.Big
	return ray.NodeID(), nil
})

// borrowRead reads the kept Ref: its size, or the kind of its error.
var borrowRead = ray.Method0(borrowKeeperClass, "read", func(k *borrowKeeper, ctx context.Context) (string, error) {
	v, err := ray.GetWithTimeout(ctx, k.r, 20*time.Second)
	var died *ray.OwnerDiedError
	switch {
	case errors.As(err, &died):
		return "owner died", nil
	case err != nil:
		return "", err
	}
	return "read " + strconv.Itoa(len(v)), nil
})

var borrowDrop = ray.Method0(borrowKeeperClass, "drop", func(k *borrowKeeper, ctx context.Context) (bool, error) {
	k.r.Release()
	k.r = ray.Ref[[]byte]{}
	return true, nil
})

func TestBorrowerOnAnotherNodeKeepsTheObject(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n3 := nodeIDs["127.0.0.3"]
	k, err := borrowKeeperClass.Remote(ctx, ray.NumCPUs(0), ray.NodeAffinity(n3, false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, k, true) }()
	r, err := ray.Put(ctx, bytes.Repeat([]byte{1}, borrowBigSize))
	if err != nil {
		t.Fatal(err)
	}
	if node, err := ray.Get(ctx, borrowKeep.Remote(ctx, k, borrowBundle{Big: r})); err != nil || node != n3 {
		t.Fatalf("keep ran on %q (%v), want %s", node, err, n3)
	}
	id := r.ID()
	r.Release() // the owner's own handle goes; the actor on 127.0.0.3 borrows it
	time.Sleep(300 * time.Millisecond)
	if got, err := ray.Get(ctx, borrowRead.Remote(ctx, k)); err != nil || got != "read "+strconv.Itoa(borrowBigSize) {
		t.Fatalf("the borrower's read after the owner dropped its handle: %q, %v", got, err)
	}
	if !listedObject(ctx, t, id) {
		t.Fatalf("object %s freed while borrowed", id)
	}
	if _, err := ray.Get(ctx, borrowDrop.Remote(ctx, k)); err != nil {
		t.Fatal(err)
	}
	// The borrower dropped it: the owner frees it (its node's copy too).
	waitUnlisted(ctx, t, id)
}

// borrowOwner owns objects and hands out Refs to them.
type borrowOwner struct{}

var borrowOwnerClass = ray.Actor("it.borrow.Owner", func(ctx context.Context) (*borrowOwner, error) { return &borrowOwner{}, nil })

var borrowOwnerPut = ray.Method0(borrowOwnerClass, "put", func(o *borrowOwner, ctx context.Context) (borrowBundle, error) {
	r, err := ray.Put(ctx, bytes.Repeat([]byte{2}, borrowBigSize))
	return borrowBundle{Big: r}, err
})

// borrowSleep is a task to run for Ms milliseconds on Node.
type borrowSleep struct {
	Node string
	Ms   int
}

// borrowOwnerSubmit submits a borrowSleep task and returns a Ref to its
// result.
var borrowOwnerSubmit = ray.Method(borrowOwnerClass, "submit", func(o *borrowOwner, ctx context.Context, s borrowSleep) (borrowBundle, error) {
	return borrowBundle{Child: whereAmI.Remote(ctx, s.Ms, ray.NodeAffinity(s.Node, false))}, nil
})

func TestOwnerDeathReachesABorrowerOnAnotherNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n2, n3 := nodeIDs["127.0.0.2"], nodeIDs["127.0.0.3"]
	o, err := borrowOwnerClass.Remote(ctx, ray.NumCPUs(0), ray.NodeAffinity(n2, false))
	if err != nil {
		t.Fatal(err)
	}
	k, err := borrowKeeperClass.Remote(ctx, ray.NumCPUs(0), ray.NodeAffinity(n3, false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, k, true) }()
	b, err := ray.Get(ctx, borrowOwnerPut.Remote(ctx, o))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, borrowKeep.Remote(ctx, k, b)); err != nil {
		t.Fatal(err)
	}
	if got, err := ray.Get(ctx, borrowRead.Remote(ctx, k)); err != nil || got != "read "+strconv.Itoa(borrowBigSize) {
		t.Fatalf("before the owner died: %q, %v", got, err)
	}
	if err := ray.Kill(ctx, o, true); err != nil { // its worker process ends
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := ray.Get(ctx, borrowRead.Remote(ctx, k))
		if err != nil {
			t.Fatal(err)
		}
		if got == "owner died" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the borrower's Get 30 s after its owner was killed: %q, want OwnerDiedError", got)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// This driver borrows it too: the same error here.
	var died *ray.OwnerDiedError
	if _, err := ray.GetWithTimeout(ctx, b.Big, 20*time.Second); !errors.As(err, &died) {
		t.Fatalf("the driver's Get: %v, want OwnerDiedError", err)
	}
}

func TestWaitOnABorrowedRefWhileItsTaskRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n2, n3 := nodeIDs["127.0.0.2"], nodeIDs["127.0.0.3"]
	o, err := borrowOwnerClass.Remote(ctx, ray.NumCPUs(0), ray.NodeAffinity(n2, false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, o, true) }()
	b, err := ray.Get(ctx, borrowOwnerSubmit.Remote(ctx, o, borrowSleep{Node: n3, Ms: 4000}))
	if err != nil {
		t.Fatal(err)
	}
	r := b.Child
	if host, _, _ := net.SplitHostPort(r.OwnerAddress()); host != "127.0.0.2" {
		t.Fatalf("owner %q: want the actor on 127.0.0.2", r.OwnerAddress())
	}
	ready, notReady, err := ray.Wait(ctx, []ray.Ref[string]{r}, 1, 500*time.Millisecond)
	if err != nil || len(ready) != 0 || len(notReady) != 1 {
		t.Fatalf("Wait while the task runs: %d ready, %d not ready, %v", len(ready), len(notReady), err)
	}
	start := time.Now()
	ready, _, err = ray.Wait(ctx, []ray.Ref[string]{r}, 1, 60*time.Second)
	if err != nil || len(ready) != 1 {
		t.Fatalf("Wait until it finished: %d ready, %v", len(ready), err)
	}
	if node, err := ray.GetWithTimeout(ctx, r, time.Second); err != nil || node != n3 {
		t.Fatalf("the ready ref: %q, %v (Wait returned after %v)", node, err, time.Since(start))
	}
	// The actor returns the lease its task ran under once it is idle
	// (20 ms); killed before that, the lease on 127.0.0.3 would stay
	// held: a node does not take back the leases of a worker that died on
	// another node, and the tests after this one need its CPUs.
	waitCPUsFree(ctx, t, "127.0.0.3", "(the owner did not return its lease)")
}

// listedObject reports whether the state API lists the object (its owner,
// wherever it runs, still has it).
func listedObject(ctx context.Context, t *testing.T, id string) bool {
	t.Helper()
	c, err := stateapi.New(dashboardAddress)
	if err != nil {
		t.Fatal(err)
	}
	objs, _, err := c.List(ctx, "objects", stateapi.Options{Limit: 10_000, Filters: []stateapi.Filter{{Key: "object_id", Predicate: "=", Value: id}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o["object_id"] == id {
			return true
		}
	}
	return false
}

// waitUnlisted waits until the state API no longer lists the object.
func waitUnlisted(ctx context.Context, t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for listedObject(ctx, t, id) {
		if time.Now().After(deadline) {
			t.Fatalf("object %s still listed 30 s after its last borrower dropped it", id)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
