package offheap

import (
	"runtime"
	"strings"
	"testing"
)

type plain struct {
	id    [28]byte
	n     uint8
	times [6]int64
	links [2]int32
}

func TestMakeIsZeroedAndWritable(t *testing.T) {
	a := NewArena()
	defer a.Release()
	s := Make[plain](a, 1000)
	if len(s) != 1000 || cap(s) != 1000 {
		t.Fatalf("len %d cap %d, want 1000", len(s), cap(s))
	}
	for i := range s {
		if s[i] != (plain{}) {
			t.Fatalf("record %d not zero: %+v", i, s[i])
		}
		s[i].n = uint8(i)
		s[i].times[5] = int64(i)
		s[i].id[27], s[i].links[1] = byte(i), int32(i)
	}
	runtime.GC() // the collector neither moves nor frees it
	for i := range s {
		if s[i].n != uint8(i) || s[i].times[5] != int64(i) || s[i].id[27] != byte(i) || s[i].links[1] != int32(i) {
			t.Fatalf("record %d lost its value: %+v", i, s[i])
		}
	}
	if got, min := a.Bytes(), 1000*56; got < min {
		t.Fatalf("arena holds %d bytes, want at least %d", got, min)
	}
}

func TestFreeAndReleaseGiveBack(t *testing.T) {
	before := Live()
	a := NewArena()
	s1 := Make[int64](a, 4096)
	s2 := Make[int64](a, 4096)
	Free(a, s1)
	if got := a.Bytes(); got != 4096*8 {
		t.Fatalf("after one Free the arena holds %d bytes, want %d", got, 4096*8)
	}
	Free(a, s1)                // twice: ignored
	Free(a, make([]int64, 10)) // foreign: ignored
	Free[int64](a, nil)        // nil: ignored
	s2[4095] = 7
	a.Release()
	if got := a.Bytes(); got != 0 {
		t.Fatalf("after Release the arena holds %d bytes", got)
	}
	if got := Live(); got != before {
		t.Fatalf("the process holds %d bytes outside the heap after Release, %d before", got, before)
	}
}

func TestMakeRefusesPointers(t *testing.T) {
	for name, mk := range map[string]func(a *Arena){
		"string":  func(a *Arena) { Make[string](a, 1) },
		"pointer": func(a *Arena) { Make[*int](a, 1) },
		"struct": func(a *Arena) {
			Make[struct {
				n int
				s []byte
			}](a, 1)
		},
		"array":     func(a *Arena) { Make[[2]map[int]int](a, 1) },
		"uintptr":   func(a *Arena) { Make[uintptr](a, 1) },
		"interface": func(a *Arena) { Make[any](a, 1) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "holds pointers") {
					t.Fatalf("Make of a %s: recovered %v, want a panic about pointers", name, r)
				}
			}()
			mk(NewArena())
		})
	}
}

func TestMakeRefusesEmpty(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Make of 0 records did not panic")
		}
	}()
	Make[int64](NewArena(), 0)
}

// BenchmarkMakeTouchFree is what a chunk of a table costs: map, touch
// every page, unmap.
func BenchmarkMakeTouchFree(b *testing.B) {
	a := NewArena()
	defer a.Release()
	for b.Loop() {
		s := Make[plain](a, 4096)
		for i := 0; i < len(s); i += 64 {
			s[i].n = 1
		}
		Free(a, s)
	}
}
