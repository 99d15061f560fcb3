package core

import (
	"context"
	"fmt"
	"sync"
)

// Func runs a registered task on encoded arguments and returns the encoded result.
type Func func(ctx context.Context, args [][]byte) ([]byte, error)

// Ctor builds an actor instance from encoded arguments.
type Ctor func(ctx context.Context, args [][]byte) (any, error)

// Method runs an actor method on an instance.
type Method func(ctx context.Context, inst any, args [][]byte) ([]byte, error)

// MultiFunc runs a task whose result is a slice and encodes each element
// on its own: called with num_returns > 1, each is one return.
type MultiFunc func(ctx context.Context, args [][]byte) ([]Return, error)

// MultiMethod is MultiFunc for an actor method.
type MultiMethod func(ctx context.Context, inst any, args [][]byte) ([]Return, error)

// Return is one encoded return of a MultiFunc: its bytes (Data), or, for a
// large value, the length of its encoding (Size) and the function that
// writes it (Fill): straight into the memory it is stored from, as
// PutSized does (no encoded copy of its own). Fill runs before the task's
// results are reported and is not kept; it may run twice (again into a
// buffer, when shared memory had no room), so it writes the same bytes
// each time.
type Return struct {
	Data []byte
	Size int64
	Fill func(dst []byte)
}

// size is the length of r's encoding.
func (r Return) size() int64 {
	if r.Fill != nil {
		return r.Size
	}
	return int64(len(r.Data))
}

// bytes is r's encoding: Data, or what Fill writes into a buffer of its
// own (a small return, carried inline).
func (r Return) bytes() []byte {
	if r.Fill == nil {
		return r.Data
	}
	b := make([]byte, r.Size)
	r.Fill(b)
	return b
}

// Yield hands the owner a generator's encoded items. Each method returns
// an error when the generator must stop (cancelled, its owner gone).
type Yield interface {
	// Item yields one encoded item.
	Item(item []byte) error
	// Sized yields an item of size bytes that fill encodes into dst: a
	// large one straight into the memory it is handed to the node in (no
	// buffer of its own, no copy of it). fill runs before Sized returns
	// and is not kept; it may run twice (again into a buffer, when shared
	// memory had no room), so it writes the same bytes each time.
	Sized(size int64, fill func(dst []byte)) error
}

// GenFunc runs a generator task: it yields its items and returns nil at
// the end of the stream, or the error the stream ends with.
type GenFunc func(ctx context.Context, args [][]byte, yield Yield) error

// GenMethod is GenFunc for an actor method.
type GenMethod func(ctx context.Context, inst any, args [][]byte, yield Yield) error

var registry = struct {
	sync.RWMutex
	funcs        map[string]Func
	ctors        map[string]Ctor
	methods      map[string]Method
	multiFuncs   map[string]MultiFunc
	multiMethods map[string]MultiMethod
	genFuncs     map[string]GenFunc
	genMethods   map[string]GenMethod
}{funcs: map[string]Func{}, ctors: map[string]Ctor{}, methods: map[string]Method{},
	multiFuncs: map[string]MultiFunc{}, multiMethods: map[string]MultiMethod{},
	genFuncs: map[string]GenFunc{}, genMethods: map[string]GenMethod{}}

// RegisterFunc registers a task under a name unique in the program.
func RegisterFunc(name string, f Func) {
	registry.Lock()
	defer registry.Unlock()
	mustBeNew("task", name, registry.funcs, registry.genFuncs)
	registry.funcs[name] = f
}

// mustBeNew panics if name is taken in either map (registry held): a
// function and a generator, or a method and a generator method, share
// their names.
func mustBeNew[A, B any](what, name string, a map[string]A, b map[string]B) {
	_, inA := a[name]
	if _, inB := b[name]; inA || inB {
		panic(fmt.Sprintf("goray: %s %q registered twice", what, name))
	}
}

// RegisterActor registers an actor class constructor.
func RegisterActor(name string, c Ctor) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.ctors[name]; dup {
		panic(fmt.Sprintf("goray: actor class %q registered twice", name))
	}
	registry.ctors[name] = c
}

// RegisterMethod registers an actor method as "Class.method".
func RegisterMethod(name string, m Method) {
	registry.Lock()
	defer registry.Unlock()
	mustBeNew("actor method", name, registry.methods, registry.genMethods)
	registry.methods[name] = m
}

// RegisterMultiFunc registers the num_returns form of a task registered
// with RegisterFunc (one whose result is a slice).
func RegisterMultiFunc(name string, f MultiFunc) {
	registry.Lock()
	defer registry.Unlock()
	registry.multiFuncs[name] = f
}

// RegisterMultiMethod registers the num_returns form of an actor method.
func RegisterMultiMethod(name string, m MultiMethod) {
	registry.Lock()
	defer registry.Unlock()
	registry.multiMethods[name] = m
}

// RegisterGenFunc registers a generator task under a name unique among
// tasks and generators.
func RegisterGenFunc(name string, f GenFunc) {
	registry.Lock()
	defer registry.Unlock()
	mustBeNew("task", name, registry.funcs, registry.genFuncs)
	registry.genFuncs[name] = f
}

// RegisterGenMethod registers a generator actor method as "Class.method".
func RegisterGenMethod(name string, m GenMethod) {
	registry.Lock()
	defer registry.Unlock()
	mustBeNew("actor method", name, registry.methods, registry.genMethods)
	registry.genMethods[name] = m
}

func lookupMulti(name string, actor bool) (MultiMethod, bool) {
	registry.RLock()
	defer registry.RUnlock()
	if actor {
		m, ok := registry.multiMethods[name]
		return m, ok
	}
	f, ok := registry.multiFuncs[name]
	if !ok {
		return nil, false
	}
	return func(ctx context.Context, _ any, args [][]byte) ([]Return, error) { return f(ctx, args) }, true
}

func lookupGen(name string, actor bool) (GenMethod, bool) {
	registry.RLock()
	defer registry.RUnlock()
	if actor {
		m, ok := registry.genMethods[name]
		return m, ok
	}
	f, ok := registry.genFuncs[name]
	if !ok {
		return nil, false
	}
	return func(ctx context.Context, _ any, args [][]byte, y Yield) error { return f(ctx, args, y) }, true
}

func lookupFunc(name string) (Func, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.funcs[name]
	return f, ok
}

func lookupCtor(name string) (Ctor, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.ctors[name]
	return f, ok
}

func lookupMethod(name string) (Method, bool) {
	registry.RLock()
	defer registry.RUnlock()
	f, ok := registry.methods[name]
	return f, ok
}
