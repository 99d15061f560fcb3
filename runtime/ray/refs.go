package ray

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/goray-dev/goray/runtime/codec"
	"github.com/goray-dev/goray/runtime/core"
)

// Refs inside values. A Ref in a struct field, a slice, an array, a map
// value or an interface travels with the value (an argument, a result, a
// Put) as its id and its owner's address; the receiver gets a borrowed
// reference (Ray's borrower protocol, see runtime/ownership): it keeps the
// object alive until the borrower drops it, and Get and Wait on it ask the
// owner.
//
// The SDK's encoding finds the Refs of a value by walking it (the paths
// encoding/json follows: exported fields, elements, map values, pointers,
// interfaces) and holds their objects until the receiver is registered. A
// Ref that encoding/json would reach only through a custom MarshalJSON is
// not seen by the walk: its MarshalJSON then fails rather than send a
// reference nobody holds.

// MarshalJSON writes the reference as {"goray_ref": id, "owner": address};
// a zero Ref is null. It fails for a Ref whose creation failed, one that was
// released, and one serialized outside the SDK's encoding (see above).
func (r Ref[T]) MarshalJSON() ([]byte, error) {
	if r.err != nil {
		return nil, fmt.Errorf("a Ref whose creation failed: %w", r.err)
	}
	if r.h == nil {
		return []byte("null"), nil
	}
	if r.h.Released() {
		return nil, fmt.Errorf("object %s: %w", r.h.ID, core.ErrReleasedRef)
	}
	if !r.h.Encoding() {
		return nil, fmt.Errorf("object %s: a Ref is serialized only by the SDK's encoding of arguments, results and Put values (not json.Marshal, nor a custom MarshalJSON): its object would not be held", r.h.ID)
	}
	return core.MarshalRefJSON(r.h.ID, r.h.Owner)
}

// UnmarshalJSON reads a Ref's JSON form into a borrowed reference (or, for
// an object this process owns, a reference of its own). null is the zero Ref.
func (r *Ref[T]) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*r = Ref[T]{}
		return nil
	}
	id, owner, err := core.ParseRefJSON(b)
	if err != nil {
		return err
	}
	w, err := worker()
	if err != nil {
		return err
	}
	*r = Ref[T]{h: w.Borrow(id, owner)}
	return nil
}

// actorRef is an actor handle (ActorHandle): counted at the actor's owner
// like a Ref's object, and found inside values the same way.
type actorRef interface{ actorHandle() *core.Handle }

var (
	objectRefType = reflect.TypeFor[ObjectRef]()
	actorRefType  = reflect.TypeFor[actorRef]()
	// generatorType: a generator is not a value to send (splitArgs refuses
	// one as an argument); it serializes as no reference.
	generatorType = reflect.TypeFor[interface{ isGenerator() }]()
)

// mayHold caches, by type, whether a value of the type can hold a Ref.
var mayHold sync.Map // reflect.Type -> bool

// canHoldRefs reports whether values of t can hold a Ref where encoding/json
// would write it: most types cannot, and their values are not walked.
func canHoldRefs(t reflect.Type) bool {
	if v, ok := mayHold.Load(t); ok {
		return v.(bool)
	}
	r := holdsRefs(t, map[reflect.Type]bool{})
	mayHold.Store(t, r)
	return r
}

func holdsRefs(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t.Implements(generatorType) {
		return false
	}
	if t.Implements(objectRefType) || t.Implements(actorRefType) {
		return true
	}
	if seen[t] {
		return false // a recursive type: its other paths decide
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return holdsRefs(t.Elem(), seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if jsonSkips(f) {
				continue
			}
			if holdsRefs(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// jsonSkips reports whether encoding/json leaves the field out: unexported
// (and not an embedded struct), or tagged "-".
func jsonSkips(f reflect.StructField) bool {
	if f.Tag.Get("json") == "-" { // "-," names a field "-"
		return true
	}
	if f.IsExported() {
		return false
	}
	t := f.Type
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return !f.Anonymous || t.Kind() != reflect.Struct
}

// refsIn returns the handles of the Refs a value holds (nil for most
// values, without walking them).
func refsIn(v any) []*core.Handle { return refsInOf(v, true) }

// refsInOf is refsIn; with actors false it leaves out actor handles.
func refsInOf(v any, actors bool) []*core.Handle {
	switch v.(type) {
	case nil, int, int64, int32, float64, string, []byte, bool:
		return nil // the codec's fast path: no reflection on the hot path
	}
	rv := reflect.ValueOf(v)
	if !canHoldRefs(rv.Type()) {
		return nil
	}
	var out []*core.Handle
	walkRefs(rv, &out, actors, 0)
	return out
}

// maxRefDepth bounds the walk: encoding/json fails on deeper (cyclic)
// values anyway.
const maxRefDepth = 1000

func walkRefs(v reflect.Value, out *[]*core.Handle, actors bool, depth int) {
	if !v.IsValid() || depth > maxRefDepth {
		return
	}
	t := v.Type()
	if t.Implements(objectRefType) {
		if t.Kind() == reflect.Pointer && v.IsNil() {
			return
		}
		if h := v.Interface().(ObjectRef).handle(); h != nil {
			*out = append(*out, h)
		}
		return
	}
	if t.Implements(actorRefType) {
		if t.Kind() == reflect.Pointer && v.IsNil() {
			return
		}
		if h := v.Interface().(actorRef).actorHandle(); h != nil && actors {
			*out = append(*out, h)
		}
		return
	}
	if !canHoldRefs(t) {
		return
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		if !v.IsNil() {
			walkRefs(v.Elem(), out, actors, depth+1)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkRefs(v.Index(i), out, actors, depth+1)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walkRefs(it.Value(), out, actors, depth+1)
		}
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if !jsonSkips(t.Field(i)) {
				walkRefs(v.Field(i), out, actors, depth+1)
			}
		}
	}
}

// encodeValue encodes v and returns the handles of the Refs inside it,
// which the caller holds (or registers) before the bytes leave.
func encodeValue(v any) ([]byte, []*core.Handle, error) {
	hs := refsIn(v)
	for _, h := range hs {
		if h.Released() {
			return nil, nil, fmt.Errorf("object %s: %w", h.ID, core.ErrReleasedRef)
		}
		h.BeginEncode()
	}
	b, err := codec.Encode(v)
	for _, h := range hs {
		h.EndEncode()
	}
	if err != nil {
		return nil, nil, err
	}
	return b, hs, nil
}

// encodeNoRefs encodes a value that cannot carry references (an element
// of a num_returns result, a generator's item): it fails on one that holds
// a Ref, which would travel without being held. An actor handle in it
// travels as one that is not counted (see ActorHandle.MarshalJSON).
func encodeNoRefs(v any, what string) ([]byte, error) {
	if hs := refsInOf(v, false); len(hs) > 0 {
		return nil, fmt.Errorf("%s holds a Ref (object %s): Refs travel inside a task's single result, its arguments and Put values; Put the value and return its Ref instead", what, hs[0].ID)
	}
	return codec.Encode(v)
}

// MarshalJSON writes an actor handle as {"goray_actor": id, "owner":
// address, "max_task_retries": n}: a counted handle (see ActorHandle) that
// the SDK's encoding of an argument, a result or a Put value sends names
// its owner, and the receiver borrows it (the actor lives while the
// receiver's copy does). A handle that is not counted, or one serialized
// outside the SDK's encoding (json.Marshal: nothing would hold it), is
// written without an owner and is not counted where it is read. A released
// handle fails.
func (h ActorHandle[S]) MarshalJSON() ([]byte, error) {
	x := actorJSON{ID: h.ID, MaxTaskRetries: h.maxTaskRetries}
	if h.h != nil {
		if h.h.Released() {
			return nil, fmt.Errorf("actor %s: %w", h.ID, core.ErrReleasedRef)
		}
		if h.h.Encoding() {
			x.Owner = h.h.Owner
		}
	}
	return json.Marshal(x)
}

// UnmarshalJSON reads an actor handle's JSON form: with an owner a
// borrowed handle (or, in the owner's process, one more handle of its
// own), else a handle that is not counted.
func (h *ActorHandle[S]) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*h = ActorHandle[S]{}
		return nil
	}
	x, err := parseActorJSON(b)
	if err != nil {
		return err
	}
	*h = ActorHandle[S]{ID: x.ID, maxTaskRetries: x.MaxTaskRetries} // no id: a zero handle
	if x.Owner == "" {
		return nil // not counted where it is read
	}
	w, err := worker()
	if err != nil {
		return err
	}
	h.h = w.Borrow(x.ID, x.Owner)
	return nil
}

// parseActorJSON reads and checks an actor handle's JSON form: bytes from
// another process (or anywhere a user got them), so bounded in size,
// exactly its fields, an id as this runtime makes them and a host:port
// owner. No id and no owner is a zero handle.
func parseActorJSON(b []byte) (actorJSON, error) {
	var x actorJSON
	if len(b) > core.MaxRefJSON {
		return x, fmt.Errorf("actor handle: %d bytes of JSON, at most %d", len(b), core.MaxRefJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x); err != nil {
		return actorJSON{}, fmt.Errorf("actor handle: %w", err)
	}
	if dec.More() {
		return actorJSON{}, fmt.Errorf("actor handle: data after the JSON object")
	}
	if x.MaxTaskRetries < -1 {
		return actorJSON{}, fmt.Errorf("actor handle: max_task_retries %d: want -1 (no limit) or more", x.MaxTaskRetries)
	}
	if x.ID == "" && x.Owner == "" {
		return x, nil
	}
	if err := core.ValidateObjectID(x.ID); err != nil {
		return actorJSON{}, fmt.Errorf("actor handle: %w", err)
	}
	if x.Owner != "" {
		if err := core.ValidateAddress(x.Owner); err != nil {
			return actorJSON{}, fmt.Errorf("actor handle: owner: %w", err)
		}
	}
	return x, nil
}

// actorJSON is an actor handle's JSON form.
type actorJSON struct {
	ID             string `json:"goray_actor"`
	Owner          string `json:"owner,omitempty"`
	MaxTaskRetries int    `json:"max_task_retries,omitempty"`
}

// ErrReleasedRef is the error of a Ref used (sent, put) after its Release.
var ErrReleasedRef = core.ErrReleasedRef
