package ray

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/core"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// refBundle is a value holding Refs in the places a user puts them: a
// field, a slice, a map, behind a pointer and an interface.
type refBundle struct {
	One   Ref[int]
	Many  []Ref[string]
	ByKey map[string]Ref[int]
	Ptr   *Ref[int]
	Any   any
	Name  string
	skip  Ref[int] //nolint:unused // unexported: not serialized, not walked
}

// makeBundle puts values from inside a task and returns Refs to them: the
// task's worker owns the objects, the caller borrows them.
var makeBundle = Task("sdk.refs.make", func(ctx context.Context, n int) (refBundle, error) {
	one, err := Put(ctx, n)
	if err != nil {
		return refBundle{}, err
	}
	b := refBundle{One: one, ByKey: map[string]Ref[int]{}, Name: "bundle"}
	for i := 0; i < 3; i++ {
		r, err := Put(ctx, strings.Repeat("x", i+1))
		if err != nil {
			return refBundle{}, err
		}
		b.Many = append(b.Many, r)
	}
	b.ByKey["double"] = twice.Remote(ctx, n) // a task this task submitted
	p, err := Put(ctx, n+1)
	if err != nil {
		return refBundle{}, err
	}
	b.Ptr = &p
	b.Any = []Ref[int]{one}
	if n >= 100 {
		b.Name = strings.Repeat("p", 200<<10) // the result goes to the object store
	}
	return b, nil
})

// strLen takes a Ref as an argument by itself: it gets the value.
var strLen = Task("sdk.refs.len", func(ctx context.Context, s string) (int, error) { return len(s), nil })

var twice = Task("sdk.refs.double", func(ctx context.Context, n int) (int, error) { return 2 * n, nil })

// readBundle reads through the Refs of a bundle it was passed.
var readBundle = Task("sdk.refs.read", func(ctx context.Context, b refBundle) (string, error) {
	one, err := Get(ctx, b.One)
	if err != nil {
		return "", err
	}
	last, err := Get(ctx, b.Many[len(b.Many)-1])
	if err != nil {
		return "", err
	}
	return strings.Repeat(last, one), nil
})

func TestRefsNestedInResults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Get(ctx, makeBundle.Remote(ctx, 4))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := worker()
	if b.One.h == nil || b.One.h.Owner == w.Address() {
		t.Fatalf("the bundle's Ref %+v is not borrowed from the task's worker", b.One.h)
	}
	if v, err := Get(ctx, b.One); err != nil || v != 4 {
		t.Fatalf("One: %d, %v", v, err)
	}
	for i, r := range b.Many {
		if v, err := Get(ctx, r); err != nil || v != strings.Repeat("x", i+1) {
			t.Fatalf("Many[%d]: %q, %v", i, v, err)
		}
	}
	if v, err := Get(ctx, b.ByKey["double"]); err != nil || v != 8 {
		t.Fatalf("ByKey: %d, %v", v, err)
	}
	if v, err := Get(ctx, *b.Ptr); err != nil || v != 5 {
		t.Fatalf("Ptr: %d, %v", v, err)
	}
	// An interface field decodes as JSON (the type is unknown): the ref's
	// JSON form, which decodes into a Ref again.
	raw, ok := b.Any.([]any)
	if !ok || len(raw) != 1 {
		t.Fatalf("Any: %#v", b.Any)
	}
	if m, _ := raw[0].(map[string]any); m["goray_ref"] != b.One.ID() {
		t.Fatalf("Any: %#v, want the JSON form of %s", raw[0], b.One.ID())
	}
	// The refs go on to another task: it borrows them from the first
	// task's worker in turn.
	if s, err := Get(ctx, readBundle.Remote(ctx, b)); err != nil || s != "xxxxxxxxxxxx" {
		t.Fatalf("read: %q, %v", s, err)
	}
	// A borrowed Ref as an argument by itself is resolved to its value.
	if n, err := Get(ctx, strLen.Remote(ctx, b.Many[2])); err != nil || n != 3 {
		t.Fatalf("a borrowed Ref as an argument: %d, %v", n, err)
	}
}

// A result too big to travel inline holds Refs: it goes through the object
// store, and another task reads it (and its Refs) from its owner.
func TestRefsInAStoredResult(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	outer := makeBundle.Remote(ctx, 100)
	// Nested in a struct the outer Ref is passed as a Ref: the task
	// Gets it from this driver (its owner) and decodes the Refs inside.
	if v, err := Get(ctx, readOuterIn.Remote(ctx, outerHolder{Outer: outer})); err != nil || v != 100 {
		t.Fatalf("through the stored result: %d, %v", v, err)
	}
	b, err := Get(ctx, outer)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Name) != 200<<10 {
		t.Fatalf("name of %d bytes", len(b.Name))
	}
	if v, err := Get(ctx, *b.Ptr); err != nil || v != 101 {
		t.Fatalf("Ptr: %d, %v", v, err)
	}
}

type outerHolder struct{ Outer Ref[refBundle] }

var readOuterIn = Task("sdk.refs.read_outer_in", func(ctx context.Context, h outerHolder) (int, error) {
	b, err := Get(ctx, h.Outer)
	if err != nil {
		return 0, err
	}
	return Get(ctx, b.One)
})

// holder is an actor whose constructor borrows a Ref.
type holder struct{ r Ref[string] }

var holderClass = Actor1("sdk.refs.Holder", func(ctx context.Context, b refBundle) (*holder, error) {
	return &holder{r: b.Many[0]}, nil
})

var holderRead = Method0(holderClass, "read", func(h *holder, ctx context.Context) (string, error) { return Get(ctx, h.r) })

func TestRefsInConstructorArguments(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Put(ctx, "kept by the constructor")
	if err != nil {
		t.Fatal(err)
	}
	a, err := holderClass.Remote(ctx, refBundle{Many: []Ref[string]{r}}, NumCPUs(0))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Kill(ctx, a, true) }()
	r.Release()
	if v, err := Get(ctx, holderRead.Remote(ctx, a)); err != nil || v != "kept by the constructor" {
		t.Fatalf("read: %q, %v", v, err)
	}
}

func TestRefsNestedInArgumentsOutliveTheCallersHandle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	one, err := Put(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Put(ctx, "ab")
	if err != nil {
		t.Fatal(err)
	}
	out := readBundle.Remote(ctx, refBundle{One: one, Many: []Ref[string]{s}})
	// The task holds what its arguments refer to: the caller's handles can go.
	one.Release()
	s.Release()
	if v, err := Get(ctx, out); err != nil || v != "ababab" {
		t.Fatalf("got %q, %v", v, err)
	}
	// Once it finished, nothing holds them: they are freed.
	waitGone(t, one.ID())
	waitGone(t, s.ID())
}

// keeper is an actor that borrows a Ref and keeps it until told to drop it.
type keeper struct{ r Ref[string] }

var keeperClass = Actor("sdk.refs.Keeper", func(ctx context.Context) (*keeper, error) { return &keeper{}, nil })

var keep = Method(keeperClass, "keep", func(k *keeper, ctx context.Context, b refBundle) (int, error) {
	k.r = b.Many[0]
	return len(b.Many), nil
})

var read = Method0(keeperClass, "read", func(k *keeper, ctx context.Context) (string, error) { return Get(ctx, k.r) })

var drop = Method0(keeperClass, "drop", func(k *keeper, ctx context.Context) (bool, error) {
	k.r.Release()
	k.r = Ref[string]{}
	return true, nil
})

func TestBorrowerKeepsTheObjectUntilItDropsIt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := keeperClass.Remote(ctx, NumCPUs(0))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Kill(ctx, a, true) }()
	big := strings.Repeat("y", 200<<10) // stored in the node's object store
	r, err := Put(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := Get(ctx, keep.Remote(ctx, a, refBundle{Many: []Ref[string]{r}})); err != nil || n != 1 {
		t.Fatalf("keep: %d, %v", n, err)
	}
	id := r.ID()
	r.Release() // the owner's own handle goes: the actor still borrows it
	time.Sleep(200 * time.Millisecond)
	if !owned(t, id) {
		t.Fatal("the object was freed while the actor borrowed it")
	}
	if v, err := Get(ctx, read.Remote(ctx, a)); err != nil || v != big {
		t.Fatalf("read through the borrowed Ref: %d bytes, %v", len(v), err)
	}
	if _, err := Get(ctx, drop.Remote(ctx, a)); err != nil {
		t.Fatal(err)
	}
	waitGone(t, id)
}

// ownerActor owns objects and hands out Refs to them.
type ownerActor struct{}

var ownerClass = Actor("sdk.refs.Owner", func(ctx context.Context) (*ownerActor, error) { return &ownerActor{}, nil })

var ownerPut = Method(ownerClass, "put", func(o *ownerActor, ctx context.Context, s string) (refBundle, error) {
	r, err := Put(ctx, s)
	return refBundle{Many: []Ref[string]{r}}, err
})

var sleepy = Task("sdk.refs.sleepy", func(ctx context.Context, ms int) (string, error) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return "awake", nil
})

var ownerSubmit = Method(ownerClass, "submit", func(o *ownerActor, ctx context.Context, ms int) (refBundle, error) {
	return refBundle{Many: []Ref[string]{sleepy.Remote(ctx, ms)}}, nil
})

func TestOwnerDeathReachesTheBorrower(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := ownerClass.Remote(ctx, NumCPUs(0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Get(ctx, ownerPut.Remote(ctx, a, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Get(ctx, b.Many[0]); err != nil || v != "hello" {
		t.Fatalf("before the owner died: %q, %v", v, err)
	}
	if err := Kill(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := GetWithTimeout(ctx, b.Many[0], 5*time.Second)
		var died *OwnerDiedError
		if errors.As(err, &died) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get after the owner was killed: %v, want OwnerDiedError", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Wait counts a Ref whose owner is gone as ready: its Get reports why.
	ready, _, err := Wait(ctx, b.Many, 1, 5*time.Second)
	if err != nil || len(ready) != 1 {
		t.Fatalf("Wait on a Ref of a dead owner: %d ready, %v", len(ready), err)
	}
}

func TestWaitOnABorrowedRefAsksItsOwner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := ownerClass.Remote(ctx, NumCPUs(0))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Kill(ctx, a, true) }()
	b, err := Get(ctx, ownerSubmit.Remote(ctx, a, 3000))
	if err != nil {
		t.Fatal(err)
	}
	r := b.Many[0]
	ready, notReady, err := Wait(ctx, []Ref[string]{r}, 1, 300*time.Millisecond)
	if err != nil || len(ready) != 0 || len(notReady) != 1 {
		t.Fatalf("while its task runs: %d ready, %d not, %v", len(ready), len(notReady), err)
	}
	ready, _, err = Wait(ctx, []Ref[string]{r}, 1, 30*time.Second)
	if err != nil || len(ready) != 1 {
		t.Fatalf("after its task: %d ready, %v", len(ready), err)
	}
	if v, err := Get(ctx, r); err != nil || v != "awake" {
		t.Fatalf("Get: %q, %v", v, err)
	}
	// The actor returns the lease its task ran under once it is idle
	// (20 ms); killed before that, the lease would stay held (a node does
	// not take back the leases of a worker that died elsewhere) and the
	// tests after this one would lack its CPU.
	for {
		nodes, err := Nodes(ctx)
		free := err == nil && len(nodes) > 0
		for _, n := range nodes {
			free = free && n.Available["CPU"] == n.Total["CPU"]
		}
		if free {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the owner did not return its lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPutValueHoldsItsRefs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	inner, err := Put(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := Put(ctx, refBundle{One: inner})
	if err != nil {
		t.Fatal(err)
	}
	innerID := inner.ID()
	inner.Release()
	// A task reads the outer object and, through it, the inner one.
	if v, err := Get(ctx, viaOuter.Remote(ctx, outer)); err != nil || v != 7 {
		t.Fatalf("through the put value: %d, %v", v, err)
	}
	b, err := Get(ctx, outer)
	if err != nil {
		t.Fatal(err)
	}
	outer.Release()
	if !owned(t, innerID) {
		t.Fatal("inner object freed while a decoded Ref holds it")
	}
	if v, err := Get(ctx, b.One); err != nil || v != 7 {
		t.Fatalf("inner: %d, %v", v, err)
	}
	b.One.Release()
	waitGone(t, innerID)
}

var viaOuter = Task("sdk.refs.via_outer", func(ctx context.Context, b refBundle) (int, error) { return Get(ctx, b.One) })

func TestRefSerializedOutsideTheSDKFails(t *testing.T) {
	ctx := context.Background()
	r, err := Put(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(refBundle{One: r}); err == nil {
		t.Fatal("json.Marshal of a Ref succeeded: its object would travel unheld")
	}
	r.Release()
	if _, err := Put(ctx, refBundle{One: r}); !errors.Is(err, ErrReleasedRef) {
		t.Fatalf("Put of a released Ref: %v, want ErrReleasedRef", err)
	}
	if got := twice.Remote(ctx, refBundle{One: r}); !errors.Is(got.Err(), ErrReleasedRef) {
		t.Fatalf("a released Ref as argument: %v, want ErrReleasedRef", got.Err())
	}
	// Elements of num_returns results and generator items cannot carry Refs.
	if _, err := encodeNoRefs([]Ref[int]{{h: r.h}}, "the element"); err == nil {
		t.Fatal("encodeNoRefs took a Ref")
	}
}

// owned reports whether this process's table still has the object.
func owned(t *testing.T, id string) bool {
	t.Helper()
	w, err := worker()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := w.ListObjects(context.Background(), &rpcpb.ListObjectsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs.Objects {
		if o.ObjectId == id {
			return true
		}
	}
	return false
}

// waitGone waits until this process no longer owns the object (freed).
func waitGone(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for owned(t, id) {
		if time.Now().After(deadline) {
			t.Fatalf("object %s still owned 20 s after its last reference went", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A call that fails before it becomes a task (wrong number of arguments)
// takes no lasting hold on the Refs inside its arguments.
func TestFailedCallDropsItsHolds(t *testing.T) {
	ctx := context.Background()
	r, err := Put(ctx, 9)
	if err != nil {
		t.Fatal(err)
	}
	if got := twice.Remote(ctx, refBundle{One: r}, 2); got.Err() == nil || !strings.Contains(got.Err().Error(), "takes 1 arguments, got 2") {
		t.Fatalf("a call with two arguments to a task of one: %v", got.Err())
	}
	if _, err := keeperClass.Remote(ctx, refBundle{One: r}); err == nil || !strings.Contains(err.Error(), "takes 0 constructor arguments, got 1") {
		t.Fatalf("a constructor call with an argument too many: %v", err)
	}
	id := r.ID()
	r.Release()
	waitGone(t, id)
}

// A borrower that dies (its process killed) no longer holds what it
// borrowed: its owner finds it gone and frees the object.
func TestDeadBorrowerReleasesItsBorrows(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, err := keeperClass.Remote(ctx, NumCPUs(0))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Put(ctx, "held by a borrower that dies")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Get(ctx, keep.Remote(ctx, a, refBundle{Many: []Ref[string]{r}})); err != nil {
		t.Fatal(err)
	}
	id := r.ID()
	r.Release()
	time.Sleep(100 * time.Millisecond)
	if !owned(t, id) {
		t.Fatal("freed while the actor borrows it")
	}
	if err := Kill(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	waitGone(t, id) // two unanswered checks, 3 s apart
}

// FuzzParseActorJSON: an actor handle's JSON form comes from other
// processes (or any bytes a user decodes): the parser never panics, and
// what it accepts is bounded and valid, and reads back the same after
// encoding.
func FuzzParseActorJSON(f *testing.F) {
	f.Add([]byte(`{"goray_actor":"0a1b2c3d4e5f0000000000000000002a","owner":"127.0.0.1:4000","max_task_retries":3}`))
	f.Add([]byte(`{"goray_actor":"0a1b2c3d4e5f0000000000000000002a"}`))
	f.Add([]byte(`{"max_task_retries":-1}`))
	f.Add([]byte(`{"goray_actor":"x","owner":"h:1"} {}`))
	f.Add([]byte(`{"goray_actor":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := parseActorJSON(b)
		if err != nil {
			return
		}
		if len(b) > core.MaxRefJSON || x.MaxTaskRetries < -1 ||
			(x.ID != "" && core.ValidateObjectID(x.ID) != nil) || (x.Owner != "" && core.ValidateAddress(x.Owner) != nil) ||
			(x.ID == "" && x.Owner != "") {
			t.Fatalf("accepted %q: %+v", b, x)
		}
		again, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		if y, err := parseActorJSON(again); err != nil || y != x {
			t.Fatalf("%q re-encoded as %s reads %+v, %v", b, again, y, err)
		}
	})
}
