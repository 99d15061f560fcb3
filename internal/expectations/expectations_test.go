package expectations

import (
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestCreatedPodCountsUntilTheCacheShowsIt(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	e := New(clk, 30*time.Second)
	e.Created("ns/c/g", "p1")

	ghosts, _ := e.Reconcile("ns/c/g", nil)
	if !slices.Equal(ghosts, []string{"p1"}) {
		t.Fatalf("stale cache: ghosts = %v, want [p1]", ghosts)
	}
	ghosts, _ = e.Reconcile("ns/c/g", []Pod{{Name: "p1"}})
	if len(ghosts) != 0 || e.Pending("ns/c/g") {
		t.Fatalf("observed create still pending: ghosts=%v", ghosts)
	}
}

func TestDeletedPodIsGoneEvenIfTheCacheStillHasIt(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	e := New(clk, 30*time.Second)
	e.Deleted("k", "p1")
	_, gone := e.Reconcile("k", []Pod{{Name: "p1"}, {Name: "p2"}})
	if !gone["p1"] || gone["p2"] {
		t.Fatalf("gone = %v, want only p1", gone)
	}
	_, gone = e.Reconcile("k", []Pod{{Name: "p1", Terminating: true}})
	if len(gone) != 0 || e.Pending("k") {
		t.Fatalf("a terminating pod settles the delete: gone=%v", gone)
	}
}

func TestEntriesExpire(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	e := New(clk, 30*time.Second)
	e.Created("k", "lost")
	clk.SetTime(clk.Now().Add(31 * time.Second))
	if ghosts, _ := e.Reconcile("k", nil); len(ghosts) != 0 {
		t.Fatalf("expired create still counted: %v", ghosts)
	}
}

func TestForgetDropsAClustersKeys(t *testing.T) {
	e := New(clocktesting.NewFakePassiveClock(time.Unix(0, 0)), time.Minute)
	e.Created("ns/a/g1", "x")
	e.Created("ns/a/g2", "y")
	e.Created("ns/b/g1", "z")
	e.Forget("ns/a/")
	if e.Pending("ns/a/g1") || e.Pending("ns/a/g2") || !e.Pending("ns/b/g1") {
		t.Fatal("Forget dropped the wrong keys")
	}
}
