package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/ray"
)

// Owner fate-sharing (Ray's ownership): a non-detached actor dies with the
// worker process that created it; a detached one lives on.

// fateOwnerArgs: where to write what the owner made, the node to place its
// actors on and their names (namespace it-fate).
type fateOwnerArgs struct {
	Dir, Node, Owned, Detached string
}

// fateOwner creates a non-detached and a detached counter on another node,
// calls each once, writes "<pid> <owned id> <detached id>" to Dir/owner and
// keeps running (holding the handles) until the test kills its worker.
var fateOwner = ray.Task("it.fate.owner", func(ctx context.Context, a fateOwnerArgs) (int, error) {
	place := []any{ray.NumCPUs(0), ray.NodeAffinity(a.Node, false), ray.Namespace("it-fate"), ray.MaxRestarts(3)}
	owned, err := gcCounterClass.Remote(ctx, append(place, ray.Name(a.Owned))...)
	if err != nil {
		return 0, err
	}
	detached, err := gcCounterClass.Remote(ctx, append(place, ray.Name(a.Detached), ray.Detached())...)
	if err != nil {
		return 0, err
	}
	for _, h := range []ray.ActorHandle[gcCounter]{owned, detached} {
		if _, err := ray.Get(ctx, gcCounterIncr.Remote(ctx, h)); err != nil {
			return 0, err
		}
	}
	line := fmt.Sprintf("%d %s %s", os.Getpid(), owned.ID, detached.ID)
	tmp := filepath.Join(a.Dir, "owner.tmp")
	if err := os.WriteFile(tmp, []byte(line), 0o644); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, filepath.Join(a.Dir, "owner")); err != nil {
		return 0, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(2 * time.Minute):
	}
	runtime.KeepAlive(owned)
	runtime.KeepAlive(detached)
	return 0, errors.New("the owner was not killed")
})

// fateRun numbers the test's runs (-count): each names its actors anew.
var fateRun int

func TestActorDiesWithItsOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ownerNode := startOwnNode(t, "127.0.0.25")
	actorNode := startOwnNode(t, "127.0.0.26")
	fateRun++
	args := fateOwnerArgs{Dir: t.TempDir(), Node: actorNode.id,
		Owned: "owned-" + strconv.Itoa(fateRun), Detached: "detached-" + strconv.Itoa(fateRun)}
	ref := fateOwner.Remote(ctx, args, ray.NumCPUs(1), ray.NodeAffinity(ownerNode.id, false), ray.MaxRetries(0))
	defer ref.Release()
	var fields []string
	awaitFor(t, 60*time.Second, "the owner task's actors", func() bool {
		b, err := os.ReadFile(filepath.Join(args.Dir, "owner"))
		fields = strings.Fields(string(b))
		return err == nil
	})
	if len(fields) != 3 {
		t.Fatalf("the owner wrote %q", fields)
	}
	ownerPID, err := strconv.Atoi(fields[0])
	if err != nil {
		t.Fatal(err)
	}
	ownedID, detachedID := fields[1], fields[2]
	owned, detached := aliveActor(ctx, t, ownedID), aliveActor(ctx, t, detachedID)
	defer func() {
		if h, err := ray.GetActor(context.Background(), gcCounterClass, args.Detached, "it-fate"); err == nil {
			_ = ray.Kill(context.Background(), h, true)
		}
	}()
	if owned.NodeID != actorNode.id || detached.NodeID != actorNode.id {
		t.Fatalf("the actors run on %s and %s, not on the other node %s", owned.NodeID, detached.NodeID, actorNode.id)
	}
	// The driver's handle (by name): its calls reach the actor while its owner lives.
	h, err := ray.GetActor(ctx, gcCounterClass, args.Owned, "it-fate")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	if n, err := ray.Get(ctx, gcCounterIncr.Remote(ctx, h)); err != nil || n != 2 {
		t.Fatalf("the driver's call before the owner died = %d, %v", n, err)
	}

	if err := syscall.Kill(ownerPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the owner's worker %d: %v", ownerPID, err)
	}
	var a = owned
	awaitFor(t, 20*time.Second, "the owned actor DEAD", func() bool {
		a = stateActor(ctx, t, ownedID)
		return a.State == "DEAD"
	})
	if a.DeathCause == nil || !strings.Contains(a.DeathCause.Context.ErrorMessage, actors.OwnerDiedCause) ||
		!strings.Contains(a.DeathCause.Context.ErrorMessage, "127.0.0.25") {
		t.Fatalf("death cause %+v, want %q naming the owner at 127.0.0.25", a.DeathCause, actors.OwnerDiedCause)
	}
	if a.NumRestarts != 0 {
		t.Fatalf("the owned actor restarted %d times after its owner died", a.NumRestarts)
	}
	awaitFor(t, 10*time.Second, "the owned actor's worker "+strconv.Itoa(owned.PID)+" to exit", func() bool { return processGone(owned.PID) })
	if _, err := ray.Get(ctx, gcCounterIncr.Remote(ctx, h)); err == nil || !strings.Contains(err.Error(), actors.OwnerDiedCause) {
		t.Fatalf("a call after the owner died: %v, want an error saying %q", err, actors.OwnerDiedCause)
	}
	if _, err := ray.Get(ctx, ref); err == nil {
		t.Fatal("the killed owner task succeeded")
	}

	// The detached actor outlives its owner.
	for i := 0; i < 20; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if d := stateActor(ctx, t, detachedID); d.State != "ALIVE" || processGone(detached.PID) {
		t.Fatalf("the detached actor is %s (%+v), worker gone %v, after its owner died", d.State, d.DeathCause, processGone(detached.PID))
	}
	dh, err := ray.GetActor(ctx, gcCounterClass, args.Detached, "it-fate")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ray.Get(ctx, gcCounterIncr.Remote(ctx, dh)); err != nil || n != 2 {
		t.Fatalf("the detached actor's call after its owner died = %d, %v", n, err)
	}
}
