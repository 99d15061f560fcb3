package integration

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/ray"
	stateapi "github.com/goray-dev/goray/runtime/state"
)

// Actor handle counting across the head and two nodes (Ray's actor
// reference counting): a non-detached actor ends when its creator's
// handles and those of the processes it passed one to are gone.

type gcCounter struct{ n int }

var gcCounterClass = ray.Actor("it.gc.Counter", func(ctx context.Context) (*gcCounter, error) { return &gcCounter{}, nil })

var gcCounterIncr = ray.Method0(gcCounterClass, "incr", func(c *gcCounter, ctx context.Context) (int, error) {
	c.n++
	return c.n, nil
})

// gcHolder borrows a counter's handle on another node and keeps it until
// told to drop it.
type gcHolder struct{ h ray.ActorHandle[gcCounter] }

var gcHolderClass = ray.Actor("it.gc.Holder", func(ctx context.Context) (*gcHolder, error) { return &gcHolder{}, nil })

var gcHolderKeep = ray.Method(gcHolderClass, "keep", func(k *gcHolder, ctx context.Context, h ray.ActorHandle[gcCounter]) (int, error) {
	k.h = h
	return ray.Get(ctx, gcCounterIncr.Remote(ctx, h))
})

var gcHolderUse = ray.Method0(gcHolderClass, "use", func(k *gcHolder, ctx context.Context) (int, error) {
	return ray.Get(ctx, gcCounterIncr.Remote(ctx, k.h))
})

var gcHolderDrop = ray.Method0(gcHolderClass, "drop", func(k *gcHolder, ctx context.Context) (bool, error) {
	k.h.Release()
	k.h = ray.ActorHandle[gcCounter]{}
	return true, nil
})

// stateActor reads an actor from the dashboard's state API.
func stateActor(ctx context.Context, t *testing.T, id string) stateapi.Actor {
	t.Helper()
	c, err := stateapi.New(dashboardAddress)
	if err != nil {
		t.Fatal(err)
	}
	as, _, err := c.ListActors(ctx, stateapi.Options{Detail: true, Filters: []stateapi.Filter{{Key: "actor_id", Predicate: "=", Value: id}}})
	if err != nil || len(as) != 1 {
		t.Fatalf("state API: actor %s: %v, %v", id, as, err)
	}
	return as[0]
}

// processGone says whether pid has exited (or is a zombie not reaped yet).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// aliveActor waits until the actor is ALIVE in the state API and returns it.
func aliveActor(ctx context.Context, t *testing.T, id string) stateapi.Actor {
	t.Helper()
	var a stateapi.Actor
	awaitFor(t, 30*time.Second, "actor "+id+" ALIVE", func() bool {
		a = stateActor(ctx, t, id)
		return a.State == "ALIVE" && a.PID != 0
	})
	return a
}

// awaitOutOfScope waits until the actor is DEAD with the out-of-scope cause
// and its worker process is gone, within a few seconds.
func awaitOutOfScope(ctx context.Context, t *testing.T, id string, pid int) {
	t.Helper()
	var a stateapi.Actor
	awaitFor(t, 10*time.Second, "actor "+id+" DEAD", func() bool {
		runtime.GC()
		a = stateActor(ctx, t, id)
		return a.State == "DEAD"
	})
	if a.DeathCause == nil || !strings.Contains(a.DeathCause.Context.ErrorMessage, actors.OutOfScopeCause) {
		t.Fatalf("death cause %+v, want %q", a.DeathCause, actors.OutOfScopeCause)
	}
	awaitFor(t, 10*time.Second, "the worker process "+strconv.Itoa(pid)+" to exit", func() bool { return processGone(pid) })
}

func TestActorEndsWhenItsHandleIsReleased(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := gcCounterClass.Remote(ctx, ray.NumCPUs(0), ray.NodeAffinity(nodeIDs["127.0.0.2"], false))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ray.Get(ctx, gcCounterIncr.Remote(ctx, h)); err != nil || n != 1 {
		t.Fatalf("incr = %d, %v", n, err)
	}
	a := aliveActor(ctx, t, h.ID)
	if processGone(a.PID) {
		t.Fatalf("the actor's worker %d is not running while it is ALIVE", a.PID)
	}
	h.Release()
	awaitOutOfScope(ctx, t, h.ID, a.PID)
}

func TestActorHandleBorrowedOnAnotherNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	holder, err := gcHolderClass.Remote(ctx, ray.NumCPUs(0), ray.NodeAffinity(nodeIDs["127.0.0.3"], false))
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	h, err := gcCounterClass.Remote(ctx, ray.NumCPUs(0), ray.NodeAffinity(nodeIDs["127.0.0.2"], false))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ray.Get(ctx, gcHolderKeep.Remote(ctx, holder, h)); err != nil || n != 1 {
		t.Fatalf("the holder's first call = %d, %v", n, err)
	}
	id := h.ID
	pid := aliveActor(ctx, t, id).PID
	h.Release() // the creator's handle goes; the holder on 127.0.0.3 still has its copy
	// Long enough for the owner's report and the holder's garbage
	// collections (a borrowed handle nobody references is collected there
	// within about borrowCollectEvery).
	for i := 0; i < 30; i++ {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
	}
	if a := stateActor(ctx, t, id); a.State != "ALIVE" {
		t.Fatalf("the actor is %s (%+v) while a borrower on another node holds a handle", a.State, a.DeathCause)
	}
	if n, err := ray.Get(ctx, gcHolderUse.Remote(ctx, holder)); err != nil || n != 2 {
		t.Fatalf("the borrower's call after the creator's Release = %d, %v", n, err)
	}
	if _, err := ray.Get(ctx, gcHolderDrop.Remote(ctx, holder)); err != nil {
		t.Fatal(err)
	}
	awaitOutOfScope(ctx, t, id, pid)
	// The holder itself is still there and says the handle is gone.
	if a := stateActor(ctx, t, holder.ID); a.State != "ALIVE" {
		t.Fatalf("the holder is %s", a.State)
	}
}

func TestDetachedActorSurvivesItsHandles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := gcCounterClass.Remote(ctx, ray.NumCPUs(0), ray.Detached(), ray.Name("it-gc-detached"), ray.Namespace("it-gc"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(context.Background(), h, true) }()
	if _, err := ray.Get(ctx, gcCounterIncr.Remote(ctx, h)); err != nil {
		t.Fatal(err)
	}
	pid := aliveActor(ctx, t, h.ID).PID
	h.Release()
	for i := 0; i < 30; i++ {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
	}
	if a := stateActor(ctx, t, h.ID); a.State != "ALIVE" || processGone(pid) {
		t.Fatalf("detached actor is %s (%+v), worker gone %v, after its handles were released", a.State, a.DeathCause, processGone(pid))
	}
	again, err := ray.GetActor(ctx, gcCounterClass, "it-gc-detached", "it-gc")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ray.Get(ctx, gcCounterIncr.Remote(ctx, again)); err != nil || n != 2 {
		t.Fatalf("incr through GetActor's handle = %d, %v", n, err)
	}
}
