package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// mark records an event of a cancel test as a file in dir (the test's
// nodes share this machine's filesystem).
func mark(dir, name string) { _ = os.WriteFile(filepath.Join(dir, name), nil, 0o600) }

func marked(dir, pattern string) int {
	m, _ := filepath.Glob(filepath.Join(dir, pattern))
	return len(m)
}

// waitCancelled runs until its context is cancelled, or a "stop" file
// appears in dir (or a minute passes), marking its start and how it ended.
func waitCancelled(ctx context.Context, dir, name string) error {
	mark(dir, "started-"+name)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	end := time.After(time.Minute)
	for {
		select {
		case <-ctx.Done():
			mark(dir, "cancelled-"+name)
			return ctx.Err()
		case <-end:
			mark(dir, "finished-"+name)
			return nil
		case <-tick.C:
			if marked(dir, "stop") > 0 {
				mark(dir, "finished-"+name)
				return nil
			}
		}
	}
}

var cancelChild = ray.Task2("it.cancelChild", func(ctx context.Context, dir string, i int) (int, error) {
	return i, waitCancelled(ctx, dir, fmt.Sprintf("task-%d", i))
})

var actorWaitCancelled = ray.Method(stateful, "waitCancelled", func(s *state, ctx context.Context, dir string) (int, error) {
	return 0, waitCancelled(ctx, dir, "actor-call")
})

// cancelParent submits two child tasks spread over the nodes and a third
// that submits a grandchild, and calls an actor it made; it waits for them.
var cancelParent = ray.Task("it.cancelParent", func(ctx context.Context, dir string) (int, error) {
	h, err := stateful.Remote(ctx, ray.NumCPUs(0.25))
	if err != nil {
		return 0, err
	}
	defer func() {
		// Killed once its call has ended (its cancel may come after this
		// task's own): a killed actor's call would not see its cancel.
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if marked(dir, "*-actor-call") > 1 {
				break
			}
		}
		_ = ray.Kill(context.WithoutCancel(ctx), h, true)
	}()
	refs := []ray.Ref[int]{
		cancelChild.Remote(ctx, dir, 1, ray.SchedulingSpread(), ray.NumCPUs(0.25)),
		cancelChild.Remote(ctx, dir, 2, ray.SchedulingSpread(), ray.NumCPUs(0.25)),
		cancelMiddle.Remote(ctx, dir, ray.NumCPUs(0.25)),
		actorWaitCancelled.Remote(ctx, h, dir),
	}
	_, err = ray.GetAll(ctx, refs...)
	return 0, err
})

// cancelMiddle is a child that submits a grandchild and waits for it.
var cancelMiddle = ray.Task("it.cancelMiddle", func(ctx context.Context, dir string) (int, error) {
	return ray.Get(ctx, cancelChild.Remote(ctx, dir, 3, ray.NumCPUs(0.25)))
})

// Ray's recursive cancel: cancelling a task cancels the tasks and the
// actor call it submitted, on whichever nodes they run, and theirs.
func TestCancelIsRecursive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	parent := cancelParent.Remote(ctx, dir, ray.NumCPUs(0.25))
	// Two children, the grandchild and the actor call.
	waitUntil(t, "the children running", func() bool { return marked(dir, "started-*") == 4 })
	if err := ray.Cancel(parent, false); err != nil {
		t.Fatal(err)
	}
	var cancelled *ray.TaskCancelledError
	if _, err := ray.Get(ctx, parent); !errors.As(err, &cancelled) {
		t.Fatalf("the parent after Cancel: %v, want TaskCancelledError", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for marked(dir, "cancelled-*") != 4 {
		if time.Now().After(deadline) {
			m, _ := filepath.Glob(filepath.Join(dir, "*"))
			t.Fatalf("not every child cancelled within 20 s: %v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := marked(dir, "finished-*"); n != 0 {
		t.Fatalf("%d children ran to their end", n)
	}
}

// Recursive(false) cancels the task alone: the tasks it submitted go on
// (until the test stops them).
func TestCancelNotRecursive(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	parent := cancelParent.Remote(ctx, dir, ray.NumCPUs(0.25))
	waitUntil(t, "the children running", func() bool { return marked(dir, "started-*") == 4 })
	if err := ray.Cancel(parent, false, ray.Recursive(false)); err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, parent); err == nil {
		t.Fatal("the parent succeeded after Cancel")
	}
	time.Sleep(time.Second)
	n := marked(dir, "cancelled-*")
	mark(dir, "stop")
	if n != 0 {
		t.Fatalf("%d children cancelled by a cancel that was not recursive", n)
	}
	// The three tasks run to their end (the actor call goes with its
	// actor, which the parent kills as it ends).
	deadline := time.Now().Add(20 * time.Second)
	for marked(dir, "finished-task-*") != 3 {
		if time.Now().After(deadline) {
			m, _ := filepath.Glob(filepath.Join(dir, "*"))
			t.Fatalf("not every child ran to its end within 20 s: %v", m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
