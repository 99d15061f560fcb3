package integration

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
	stateapi "github.com/goray-dev/goray/runtime/state"
)

// Lightweight actors (ray.Lightweight): instances sharing a host worker
// per node and job.
type liteState struct{ calls int }

var lite = ray.Actor("it.Lite", func(ctx context.Context) (*liteState, error) { return &liteState{}, nil })

var liteIncr = ray.Method0(lite, "incr", func(s *liteState, ctx context.Context) (int, error) {
	s.calls++
	return s.calls, nil
})

var litePid = ray.Method0(lite, "pid", func(s *liteState, ctx context.Context) (int, error) { return os.Getpid(), nil })

var liteNode = ray.Method0(lite, "node", func(s *liteState, ctx context.Context) (string, error) { return ray.NodeID(), nil })

var litePanic = ray.Method0(lite, "panic", func(s *liteState, ctx context.Context) (int, error) {
	panic("lightweight actor method panicked")
})

var liteCrash = ray.Method0(lite, "crash", func(s *liteState, ctx context.Context) (int, error) {
	os.Exit(3) // the host process dies, and every instance in it
	return 0, nil
})

// TestLightweightActors creates lightweight actors on both worker nodes
// and checks the isolation they have and the one they lack: ray.Kill ends
// one instance, a panicking method fails only its call, and the host's
// crash takes every instance on it down, each restarting per its
// max_restarts.
func TestLightweightActors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type inst struct {
		h        ray.ActorHandle[liteState]
		ip       string
		restarts int
	}
	// What a lightweight actor cannot have is refused at once.
	for _, bad := range []ray.Option{ray.NumCPUs(1), ray.EnvVars(map[string]string{"X": "1"}), ray.Detached()} {
		if _, err := lite.Remote(ctx, ray.Lightweight(), bad); err == nil {
			t.Fatal("a lightweight actor with its own resources, environment or lifetime was created")
		}
	}
	var all []inst
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		for i := 0; i < 4; i++ {
			restarts := i % 2 // odd ones restart once
			h, err := lite.Remote(ctx, ray.Lightweight(), ray.NodeAffinity(nodeIDs[ip], false), ray.MaxRestarts(restarts))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, inst{h, ip, restarts})
		}
	}
	call := func(a inst) (int, error) { return ray.Get(ctx, liteIncr.Remote(ctx, a.h)) }
	pids := map[string]int{}
	for _, a := range all {
		if n, err := call(a); err != nil || n != 1 {
			t.Fatalf("first call: %d, %v", n, err)
		}
		node, err := ray.Get(ctx, liteNode.Remote(ctx, a.h))
		if err != nil || node != nodeIDs[a.ip] {
			t.Fatalf("actor on node %q (%v), want %s", node, err, nodeIDs[a.ip])
		}
		pid, err := ray.Get(ctx, litePid.Remote(ctx, a.h))
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := pids[a.ip]; ok && p != pid {
			t.Fatalf("instances on %s run in processes %d and %d: want one shared host", a.ip, p, pid)
		}
		pids[a.ip] = pid
	}
	if pids["127.0.0.2"] == pids["127.0.0.3"] {
		t.Fatal("both nodes' instances in one process")
	}

	// The state API lists every instance, ALIVE in its host's process.
	c, err := stateapi.New(dashboardAddress)
	if err != nil {
		t.Fatal(err)
	}
	listed := func() map[string]stateapi.Actor {
		as, _, err := c.ListActors(ctx, stateapi.Options{Detail: true, Filters: []stateapi.Filter{{Key: "class_name", Predicate: "=", Value: "it.Lite"},
			{Key: "is_lightweight", Predicate: "=", Value: "true"}}})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]stateapi.Actor{}
		for _, a := range as {
			out[a.ActorID] = a
		}
		return out
	}
	got := listed()
	for _, a := range all {
		if s := got[a.h.ID]; s.State != "ALIVE" || s.PID != pids[a.ip] || !s.IsLightweight {
			t.Fatalf("state API lists %s as %s pid %d lightweight %v, want ALIVE pid %d lightweight", a.h.ID, s.State, s.PID, s.IsLightweight, pids[a.ip])
		}
	}

	// A panicking method fails its call; the instance and its neighbours go on.
	if _, err := ray.Get(ctx, litePanic.Remote(ctx, all[0].h)); err == nil || !strings.Contains(err.Error(), "lightweight actor method panicked") {
		t.Fatalf("panicking call: %v", err)
	}
	for _, a := range all[:4] {
		if n, err := call(a); err != nil || n != 2 {
			t.Fatalf("after a neighbour's panic: %d, %v", n, err)
		}
	}

	// ray.Kill ends one instance; the others on its host keep their state.
	if err := ray.Kill(ctx, all[0].h, true); err != nil {
		t.Fatal(err)
	}
	var died *ray.ActorDiedError
	if _, err := call(all[0]); !errors.As(err, &died) {
		t.Fatalf("call to a killed instance: %v", err)
	}
	// Killed with a restart left: a fresh instance in the same host.
	if err := ray.Kill(ctx, all[1].h, false); err != nil {
		t.Fatal(err)
	}
	if n, err := call(all[1]); err != nil || n != 1 {
		t.Fatalf("restarted instance: %d, %v", n, err)
	}
	if pid, err := ray.Get(ctx, litePid.Remote(ctx, all[1].h)); err != nil || pid != pids["127.0.0.2"] {
		t.Fatalf("restarted instance in process %d (%v), want the host %d", pid, err, pids["127.0.0.2"])
	}
	for _, a := range all[2:4] {
		if n, err := call(a); err != nil || n != 3 {
			t.Fatalf("after a neighbour's kill: %d, %v", n, err)
		}
	}

	// The host on 127.0.0.3 crashes: every instance on it dies; those with
	// a restart come back in a new host, the others are DEAD.
	if _, err := ray.Get(ctx, liteCrash.Remote(ctx, all[4].h)); err == nil {
		t.Fatal("the crashing call succeeded")
	}
	for _, a := range all[4:] {
		n, err := call(a)
		if a.restarts == 0 {
			if !errors.As(err, &died) {
				t.Fatalf("instance without restarts after its host crashed: %d, %v", n, err)
			}
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("instance with a restart after its host crashed: %d, %v", n, err)
		}
		pid, err := ray.Get(ctx, litePid.Remote(ctx, a.h))
		if err != nil || pid == pids["127.0.0.3"] {
			t.Fatalf("restarted in process %d (%v): want a new host, not %d", pid, err, pids["127.0.0.3"])
		}
	}
	// The other node's instances never noticed.
	for _, a := range all[1:4] {
		if _, err := call(a); err != nil {
			t.Fatalf("instance on the other node: %v", err)
		}
	}
	got = listed()
	for _, a := range all[4:] {
		want := "ALIVE"
		if a.restarts == 0 {
			want = "DEAD"
		}
		if s := got[a.h.ID]; s.State != want || s.NumRestarts != a.restarts {
			t.Fatalf("state API lists %s as %s with %d restarts, want %s with %d", a.h.ID, s.State, s.NumRestarts, want, a.restarts)
		}
	}
	for _, a := range all {
		_ = ray.Kill(ctx, a.h, true)
	}
}
