// Package offheap gives pointer-free storage that lives outside the Go
// heap, for a process's large, long-lived tables of plain records (task
// events waiting for a report, the GCS's task history).
//
// Why: memory on the heap counts toward the garbage collector's pacing
// even when it holds no pointers. A table that grows by tens of megabytes
// while a process is busy makes the collector run more often over the
// rest of the heap, which is what slows the process; the same table
// outside the heap costs the collector nothing. The records must hold no
// Go pointers (strings, slices, maps, interfaces, pointers): the collector
// never sees this memory, so anything it pointed to could be freed under
// it. Make checks that.
//
// Memory comes from anonymous mappings (zeroed by the kernel, touched
// lazily) on Linux and from the heap elsewhere. Whoever owns an Arena
// frees it: Free per slice, Release for all, typically from a cleanup
// (runtime.AddCleanup) on the table that uses it; nothing may keep a
// pointer into a slice after that.
package offheap

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
)

// live counts the bytes every arena in the process holds: memory the
// heap's statistics do not show.
var live atomic.Int64

// Live is how many bytes of storage outside the heap the process holds
// (every arena's slices not yet given back).
func Live() int64 { return live.Load() }

// Arena tracks the slices it handed out, so they can be given back
// together. It is safe for concurrent use.
type Arena struct {
	mu   sync.Mutex
	live map[uintptr]block // by address of the first byte
}

// NewArena makes an empty arena.
func NewArena() *Arena { return &Arena{live: map[uintptr]block{}} }

// block is memory handed out: mapped, or from the heap where mapping
// failed (never to be unmapped).
type block struct {
	mem    []byte
	mapped bool
}

// Make returns a zeroed slice of n Ts outside the heap. It panics if T
// holds pointers or n is not positive.
func Make[T any](a *Arena, n int) []T {
	var zero T
	checkPointerFree(reflect.TypeFor[T]())
	size := int(unsafe.Sizeof(zero))
	if n <= 0 || size == 0 {
		panic(fmt.Sprintf("offheap: Make of %d %T", n, zero))
	}
	b := alloc(n * size)
	live.Add(int64(len(b.mem)))
	mem := b.mem
	a.mu.Lock()
	a.live[uintptr(unsafe.Pointer(&mem[0]))] = b
	a.mu.Unlock()
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[0])), n)
}

// Free gives back a slice Make returned; the slice must not be used
// after. A nil or foreign slice is ignored.
func Free[T any](a *Arena, s []T) {
	if cap(s) == 0 {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	a.mu.Lock()
	b, ok := a.live[p]
	delete(a.live, p)
	a.mu.Unlock()
	if ok {
		live.Add(-int64(len(b.mem)))
		release(b)
	}
}

// Release gives back every slice still out: none may be used after.
func (a *Arena) Release() {
	a.mu.Lock()
	held := a.live
	a.live = map[uintptr]block{}
	a.mu.Unlock()
	for _, b := range held {
		live.Add(-int64(len(b.mem)))
		release(b)
	}
}

// Bytes is how much memory the arena's live slices take.
func (a *Arena) Bytes() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, b := range a.live {
		n += len(b.mem)
	}
	return n
}

var checked sync.Map // reflect.Type → struct{}: types found pointer-free

func checkPointerFree(t reflect.Type) {
	if _, ok := checked.Load(t); ok {
		return
	}
	if hasPointers(t) {
		panic(fmt.Sprintf("offheap: %v holds pointers: the garbage collector cannot see memory outside the heap", t))
	}
	checked.Store(t, struct{}{})
}

func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	default: // pointers, uintptr (may hide one), strings, slices, maps, chans, funcs, interfaces
		return true
	}
}
