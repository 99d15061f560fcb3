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

var registry = struct {
	sync.RWMutex
	funcs   map[string]Func
	ctors   map[string]Ctor
	methods map[string]Method
}{funcs: map[string]Func{}, ctors: map[string]Ctor{}, methods: map[string]Method{}}

// RegisterFunc registers a task under a name unique in the program.
func RegisterFunc(name string, f Func) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.funcs[name]; dup {
		panic(fmt.Sprintf("goray: task %q registered twice", name))
	}
	registry.funcs[name] = f
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
	if _, dup := registry.methods[name]; dup {
		panic(fmt.Sprintf("goray: actor method %q registered twice", name))
	}
	registry.methods[name] = m
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
