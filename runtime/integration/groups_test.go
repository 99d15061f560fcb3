package integration

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// grouped is an actor whose "io" calls hold until released, counting how
// many run at once.
type grouped struct {
	mu       sync.Mutex
	running  int
	most     int
	released chan struct{}
}

var groupedClass = ray.Actor("it.Grouped", func(ctx context.Context) (*grouped, error) {
	return &grouped{released: make(chan struct{})}, nil
})

// hold runs until release is called (or 30 s pass): it reports whether it
// was released.
var groupedHold = ray.Method0(groupedClass, "hold", func(g *grouped, ctx context.Context) (bool, error) {
	g.mu.Lock()
	g.running++
	g.most = max(g.most, g.running)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.running--
		g.mu.Unlock()
	}()
	select {
	case <-g.released:
		return true, nil
	case <-time.After(30 * time.Second):
		return false, nil
	}
})

// running is how many hold calls run now, and the most that ran at once.
var groupedRunning = ray.Method0(groupedClass, "running", func(g *grouped, ctx context.Context) ([2]int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return [2]int{g.running, g.most}, nil
})

var groupedRelease = ray.Method0(groupedClass, "release", func(g *grouped, ctx context.Context) (bool, error) {
	close(g.released)
	return true, nil
})

// Actor concurrency groups (Ray's concurrency_groups): an "io" group of 2
// runs two held calls at once and keeps a third waiting, while calls of
// the default group (one at a time) go on beside them; a call naming a
// group the actor has not is an error.
func TestActorConcurrencyGroups(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := groupedClass.Remote(ctx, ray.ConcurrencyGroups(map[string]int{"io": 2}), ray.NodeAffinity(nodeIDs["127.0.0.2"], false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, a, true) }()
	io := ray.ConcurrencyGroup("io")
	holds := []ray.Ref[bool]{groupedHold.Remote(ctx, a, io), groupedHold.Remote(ctx, a, io), groupedHold.Remote(ctx, a, io)}
	// The default group answers while io is full.
	var now [2]int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if now, err = ray.Get(ctx, groupedRunning.Remote(ctx, a)); err != nil {
			t.Fatal(err)
		}
		if now[0] == 2 || time.Now().After(deadline) {
			break
		}
	}
	if now[0] != 2 {
		t.Fatalf("%d io calls running, want 2 (the group's size)", now[0])
	}
	time.Sleep(200 * time.Millisecond) // the third would have started by now if it could
	if now, err = ray.Get(ctx, groupedRunning.Remote(ctx, a)); err != nil || now[1] != 2 {
		t.Fatalf("most io calls at once: %v, %v; want 2", now, err)
	}
	if ok, err := ray.Get(ctx, groupedRelease.Remote(ctx, a)); err != nil || !ok {
		t.Fatalf("release: %v %v", ok, err)
	}
	for i, h := range holds {
		if ok, err := ray.Get(ctx, h); err != nil || !ok {
			t.Fatalf("hold %d: released %v, %v", i, ok, err)
		}
	}
	_, err = ray.Get(ctx, groupedRunning.Remote(ctx, a, ray.ConcurrencyGroup("nope")))
	if err == nil || !strings.Contains(err.Error(), `concurrency group "nope" is not defined`) {
		t.Fatalf("call in an unknown group: %v", err)
	}
	// A bad group is refused when the actor is created.
	if _, err := groupedClass.Remote(ctx, ray.ConcurrencyGroups(map[string]int{"io": 0})); err == nil || !strings.Contains(err.Error(), "concurrency_groups") {
		t.Fatalf("an actor with a group of 0: %v", err)
	}
}
