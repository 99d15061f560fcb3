package ray

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/actors"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Actor handle counting (Ray's actor reference counting) on the embedded
// cluster: a non-detached actor ends when the last handle to it is gone.

type gcActor struct{ n int }

var gcActorClass = Actor("sdk.gc.Actor", func(ctx context.Context) (*gcActor, error) { return &gcActor{}, nil })

var gcIncr = Method(gcActorClass, "incr", func(a *gcActor, ctx context.Context, d time.Duration) (int, error) {
	time.Sleep(d)
	a.n++
	return a.n, nil
})

// gcCall calls the actor through a handle it was passed (a borrower in the
// task's worker).
var gcCall = Task("sdk.gc.call", func(ctx context.Context, h ActorHandle[gcActor]) (int, error) {
	return Get(ctx, gcIncr.Remote(ctx, h, time.Duration(0)))
})

// actorInfo reads the actor's GCS record.
func actorInfo(t *testing.T, id string) *rpcpb.ActorInfo {
	t.Helper()
	w, err := worker()
	if err != nil {
		t.Fatal(err)
	}
	info, err := w.GCS().GetActor(context.Background(), &rpcpb.GetActorRequest{ActorId: id})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitActorDead waits until the actor is DEAD (running the garbage
// collector meanwhile, for handles dropped without Release) and returns its
// record.
func waitActorDead(t *testing.T, id string, within time.Duration) *rpcpb.ActorInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		runtime.GC()
		info := actorInfo(t, id)
		if info.State == rpcpb.ActorState_DEAD {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("actor %s is %s after %v, want DEAD", id, info.State, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestActorEndsWhenReleased(t *testing.T) {
	ctx := context.Background()
	h, err := gcActorClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := Get(ctx, gcIncr.Remote(ctx, h, time.Duration(0))); err != nil || n != 1 {
		t.Fatalf("incr = %d, %v", n, err)
	}
	if info := actorInfo(t, h.ID); info.State != rpcpb.ActorState_ALIVE || info.OwnerAddress == "" {
		t.Fatalf("before Release: %s owner %q", info.State, info.OwnerAddress)
	}
	h.Release()
	h.Release() // again: nothing
	info := waitActorDead(t, h.ID, 10*time.Second)
	if info.DeathCause != actors.OutOfScopeCause {
		t.Fatalf("death cause %q, want %q", info.DeathCause, actors.OutOfScopeCause)
	}
	if _, err := Get(ctx, gcIncr.Remote(ctx, h, time.Duration(0))); !errors.Is(err, ErrReleasedRef) {
		t.Fatalf("a call through a released handle: %v, want ErrReleasedRef", err)
	}
}

// Calls made before the Release finish first: the actor ends after them.
func TestActorEndsAfterPendingCalls(t *testing.T) {
	ctx := context.Background()
	h, err := gcActorClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var refs []Ref[int]
	for i := 0; i < 3; i++ {
		refs = append(refs, gcIncr.Remote(ctx, h, 200*time.Millisecond))
	}
	id := h.ID
	h.Release()
	got, err := GetAll(ctx, refs...)
	if err != nil {
		t.Fatalf("calls queued before the Release: %v", err)
	}
	if got[2] != 3 {
		t.Fatalf("calls returned %v", got)
	}
	if info := waitActorDead(t, id, 10*time.Second); info.DeathCause != actors.OutOfScopeCause {
		t.Fatalf("death cause %q", info.DeathCause)
	}
}

// Without Release the garbage collector drops the handle.
func TestActorEndsWhenUnreachable(t *testing.T) {
	ctx := context.Background()
	id := func() string {
		h, err := gcActorClass.Remote(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Get(ctx, gcIncr.Remote(ctx, h, time.Duration(0))); err != nil {
			t.Fatal(err)
		}
		return h.ID
	}()
	if info := waitActorDead(t, id, 10*time.Second); info.DeathCause != actors.OutOfScopeCause {
		t.Fatalf("death cause %q", info.DeathCause)
	}
}

// A handle passed to a task is borrowed there: the actor stays while the
// task uses it, after the caller's Release.
func TestActorHandlePassedToTask(t *testing.T) {
	ctx := context.Background()
	h, err := gcActorClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := gcCall.Remote(ctx, h)
	h.Release() // the task's argument holds the handle until it finished
	if n, err := Get(ctx, r); err != nil || n != 1 {
		t.Fatalf("call from the task = %d, %v", n, err)
	}
	waitActorDead(t, h.ID, 10*time.Second)
}

func TestDetachedActorOutlivesHandles(t *testing.T) {
	ctx := context.Background()
	h, err := gcActorClass.Remote(ctx, Detached(), Name("sdk-gc-detached"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Kill(ctx, h, true) }()
	if _, err := Get(ctx, gcIncr.Remote(ctx, h, time.Duration(0))); err != nil {
		t.Fatal(err)
	}
	h.Release()
	for i := 0; i < 10; i++ {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
	}
	if info := actorInfo(t, h.ID); info.State != rpcpb.ActorState_ALIVE {
		t.Fatalf("detached actor is %s (%s) after its handles were released", info.State, info.DeathCause)
	}
	// Not counted: calls through it still work.
	if n, err := Get(ctx, gcIncr.Remote(ctx, h, time.Duration(0))); err != nil || n != 2 {
		t.Fatalf("incr after Release = %d, %v", n, err)
	}
}

// GetActor's handles are not counted: the named actor ends with its
// creator's handles.
func TestNamedActorEndsWithCreatorsHandles(t *testing.T) {
	ctx := context.Background()
	h, err := gcActorClass.Remote(ctx, Name("sdk-gc-named"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := GetActor(ctx, gcActorClass, "sdk-gc-named", "")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := Get(ctx, gcIncr.Remote(ctx, got, time.Duration(0))); err != nil || n != 1 {
		t.Fatalf("incr = %d, %v", n, err)
	}
	got.Release() // not counted: nothing
	if info := actorInfo(t, h.ID); info.State != rpcpb.ActorState_ALIVE {
		t.Fatalf("after GetActor's handle's Release: %s", info.State)
	}
	h.Release()
	waitActorDead(t, h.ID, 10*time.Second)
	if _, err := GetActor(ctx, gcActorClass, "sdk-gc-named", ""); err == nil {
		t.Fatal("GetActor found the named actor after it ended")
	}
}

// json.Marshal outside the SDK's encoding writes no owner (nothing would
// hold the actor for the reader); a released handle does not serialize.
func TestActorHandleJSON(t *testing.T) {
	ctx := context.Background()
	h, err := gcActorClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "owner") || !strings.Contains(string(b), h.ID) {
		t.Fatalf("json.Marshal = %s", b)
	}
	var back ActorHandle[gcActor]
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != h.ID || back.h != nil {
		t.Fatalf("decoded %+v", back)
	}
	for _, bad := range []string{`{"goray_actor":"a b"}`, `{"goray_actor":"x","owner":"nohost"}`, `{"goray_actor":"x","extra":1}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
	c, err := gcActorClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c.Release()
	if _, err := json.Marshal(c); !errors.Is(err, ErrReleasedRef) {
		t.Fatalf("marshal of a released handle: %v", err)
	}
}

// A generator's item or a num_returns element cannot carry a counted
// reference: an actor handle in one travels without its owner (not
// counted), where a Ref fails.
func TestActorHandleInAnItemIsNotCounted(t *testing.T) {
	ctx := context.Background()
	h, err := gcActorClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	b, err := encodeNoRefs(struct{ H ActorHandle[gcActor] }{h}, "item")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "owner") {
		t.Fatalf("item encoded as %s", b)
	}
	// The SDK's encoding of an argument names the owner.
	b, hs, err := encodeValue(struct{ H ActorHandle[gcActor] }{h})
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || !strings.Contains(string(b), `"owner"`) {
		t.Fatalf("argument encoded as %s with %d handles", b, len(hs))
	}
}
