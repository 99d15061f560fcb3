package objectstore

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"testing"
)

func fillWith(b byte) func([]byte) error {
	return func(buf []byte) error {
		for i := range buf {
			buf[i] = b
		}
		return nil
	}
}

func TestPutFuncReusesFreedMemory(t *testing.T) {
	s := New(64<<20, t.TempDir())
	defer s.Close()
	const n = 3<<20 + 5
	if err := s.PutFunc("a", n, fillWith('a')); err != nil {
		t.Fatal(err)
	}
	first := &s.objs["a"].data[0]
	got, err := s.Get("a")
	if err != nil || len(got) != n || got[0] != 'a' || got[n-1] != 'a' {
		t.Fatalf("get a: %v", err)
	}
	if &got[0] == first {
		t.Fatal("Get of an object in store memory must return a copy")
	}
	s.Delete("a")
	if st := s.Stats(); st.Used != 0 || st.PooledBytes == 0 {
		t.Fatalf("after delete: %+v", st)
	}
	if err := s.PutFunc("b", n-100, fillWith('b')); err != nil {
		t.Fatal(err)
	}
	if &s.objs["b"].data[0] != first {
		t.Fatal("freed region not reused")
	}
	if st := s.Stats(); st.PooledBytes != 0 || st.Used != n-100 {
		t.Fatalf("after reuse: %+v", st)
	}
}

func TestReadPinsAcrossDelete(t *testing.T) {
	s := New(64<<20, t.TempDir())
	defer s.Close()
	_ = s.PutFunc("a", 1<<20, fillWith('a'))
	err := s.Read("a", func(b []byte) error {
		s.Delete("a")
		if st := s.Stats(); st.PooledBytes != 0 {
			t.Fatalf("region pooled while pinned: %+v", st)
		}
		// A new object must not get the pinned memory.
		_ = s.PutFunc("b", 1<<20, fillWith('b'))
		if !bytes.Equal(b, bytes.Repeat([]byte("a"), 1<<20)) {
			t.Fatal("pinned bytes changed")
		}
		return nil
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.PooledBytes == 0 || st.Objects != 1 {
		t.Fatalf("after unpin: %+v", st)
	}
}

func TestPutFuncSpillsAndReclaims(t *testing.T) {
	dir := t.TempDir()
	s := New(8<<20, dir)
	defer s.Close()
	calls := 0
	s.SetReclaimer(func() {
		calls++
		s.Delete("garbage") // what an owner's garbage collection would free
	})
	_ = s.PutFunc("garbage", 5<<20, fillWith('g'))
	if err := s.PutFunc("a", 5<<20, fillWith('a')); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); calls != 1 || st.SpilledObjects != 0 || st.Used != 5<<20 {
		t.Fatalf("reclaim before spilling: calls %d, %+v", calls, st)
	}
	if err := s.PutFunc("b", 5<<20, fillWith('b')); err != nil { // a spills
		t.Fatal(err)
	}
	if st := s.Stats(); st.SpilledObjects != 1 {
		t.Fatalf("want a spilled: %+v", st)
	}
	got, err := s.Get("a")
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("a"), 5<<20)) {
		t.Fatalf("restore a: %v", err)
	}
	if err := s.PutFunc("c", 1<<20, func([]byte) error { return ErrNotFound }); err == nil || s.Contains("c") {
		t.Fatal("a failed fill must store nothing")
	}
	s.Delete("a", "b")
	if st := s.Stats(); st.Used != 0 || st.Objects != 0 || st.SpilledBytes != 0 {
		t.Fatalf("after delete: %+v", st)
	}
}

// An object of a size no pooled region fits (within take's bound) gets
// pooled memory all the same: the head of a larger region, whose tail
// stays pooled, or (where pages move) smaller regions joined, their pages
// moved with their contents rather than fresh ones mapped.
func TestPutFuncCarvesPooledMemory(t *testing.T) {
	s := New(256<<20, t.TempDir())
	defer s.Close()
	if err := s.PutFunc("big", 8<<20, fillWith('b')); err != nil {
		t.Fatal(err)
	}
	bigStart := &s.objs["big"].data[0]
	s.Delete("big")
	// A small object takes the head of the big region.
	if err := s.PutFunc("small", 1<<20, fillWith('s')); err != nil {
		t.Fatal(err)
	}
	if &s.objs["small"].data[0] != bigStart {
		t.Fatal("the small object did not get the pooled region's head")
	}
	if st := s.Stats(); st.PooledBytes != 7<<20 {
		t.Fatalf("pooled %d bytes, want the 7 MiB tail", st.PooledBytes)
	}
	s.Delete("small")

	// Pieces of 1 MiB, each filled with its own byte, then freed.
	const pieces = 6
	for i := range pieces {
		if err := s.PutFunc(fmt.Sprint("p", i), 1<<20, fillWith(byte('0'+i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range pieces {
		s.Delete(fmt.Sprint("p", i))
	}
	pooled := s.Stats().PooledBytes
	// 20 MiB: more than any pooled region; joined where pages move.
	const n = 20 << 20
	var moved int
	err := s.PutFunc("joined", n, func(buf []byte) error {
		for off := 0; off < len(buf); off += 1 << 20 {
			if buf[off] >= '0' && buf[off] < '0'+pieces || buf[off] == 'b' || buf[off] == 's' {
				moved++
			}
		}
		return fillWith('j')(buf)
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("joined")
	if err != nil || !bytes.Equal(got, bytes.Repeat([]byte("j"), n)) {
		t.Fatalf("the joined object reads back wrong: %v", err)
	}
	st := s.Stats()
	if canJoin {
		if moved == 0 {
			t.Fatal("no pooled page reached the joined region")
		}
		if st.PooledBytes >= pooled {
			t.Fatalf("pool of %d bytes unchanged (%d) by the join", st.PooledBytes, pooled)
		}
	}
	// Freed and reused again: a joined region is a region like another.
	s.Delete("joined")
	if err := s.PutFunc("again", n-4096, fillWith('a')); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("again"); err != nil || got[0] != 'a' || got[n-4097] != 'a' {
		t.Fatalf("again: %v", err)
	}
	// Cut from a joined region: a head across its mappings.
	s.Delete("again")
	if err := s.PutFunc("cut", 3<<20, fillWith('c')); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("cut"); err != nil || !bytes.Equal(got, bytes.Repeat([]byte("c"), 3<<20)) {
		t.Fatalf("cut: %v", err)
	}
}

// Splitting a joined region keeps the lengths of its mappings.
func TestRegionSplitKeepsSegments(t *testing.T) {
	r := &region{buf: make([]byte, 10<<12), segs: []int64{3 << 12, 4 << 12, 3 << 12}}
	h, tl := r.split(5 << 12)
	if len(h.buf) != 5<<12 || len(tl.buf) != 5<<12 {
		t.Fatalf("split sizes %d and %d", len(h.buf), len(tl.buf))
	}
	if !slices.Equal(h.segs, []int64{3 << 12, 2 << 12}) || !slices.Equal(tl.segs, []int64{2 << 12, 3 << 12}) {
		t.Fatalf("segments %v and %v", h.segs, tl.segs)
	}
	one := &region{buf: make([]byte, 4<<12)}
	h, tl = one.split(1 << 12)
	if h.segs != nil || tl.segs != nil || !slices.Equal(tl.segments(), []int64{3 << 12}) {
		t.Fatalf("a single mapping split into %v and %v", h.segs, tl.segs)
	}
}

// The least recently used object (put or read) spills first, and a copy
// is dropped before anything spills.
func TestSpillsLeastRecentlyUsed(t *testing.T) {
	s := New(3<<20+1000, t.TempDir())
	defer s.Close()
	const n = 1 << 20
	for _, id := range []string{"a", "b", "c"} {
		if err := s.PutFunc(id, n, fillWith(id[0])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Get("a"); err != nil { // a is now more recent than b
		t.Fatal(err)
	}
	if err := s.PutFunc("d", n, fillWith('d')); err != nil {
		t.Fatal(err)
	}
	spilled := func(id string) bool { return s.objs[id].spilled != "" }
	if !spilled("b") || spilled("a") || spilled("c") || spilled("d") {
		t.Fatalf("spilled a=%v b=%v c=%v d=%v, want b only", spilled("a"), spilled("b"), spilled("c"), spilled("d"))
	}
	// A copy: c, the least recently used, spills to make room for it.
	if err := s.PutCopyFunc("copy", "", n, fillWith('k')); err != nil {
		t.Fatal(err)
	}
	if !spilled("c") || spilled("a") {
		t.Fatalf("c spilled %v, a spilled %v: want c", spilled("c"), spilled("a"))
	}
	// Full again: the copy is dropped, though a is older.
	if err := s.PutFunc("e", n, fillWith('e')); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.objs["copy"]; ok || spilled("a") {
		t.Fatalf("copy kept (%v) or a spilled (%v): the copy goes first", ok, spilled("a"))
	}
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		got, err := s.Get(id)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte(id), n)) {
			t.Fatalf("%s reads back wrong: %v", id, err)
		}
	}
}

// Spilled objects of any size (written with O_DIRECT from store memory,
// padded to the alignment and cut back) read back as they were, and their
// files hold their bytes alone.
func TestSpilledObjectsOfAnySize(t *testing.T) {
	s := New(1<<20, t.TempDir())
	defer s.Close()
	sizes := []int64{1, 4095, 4096, 4097, 1 << 20, 3<<20 + 5, 200 << 10}
	for i, n := range sizes {
		if err := s.PutFunc(fmt.Sprint("o", i), n, fillWith(byte('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	// A heap object (Put): written buffered.
	if err := s.Put("heap", bytes.Repeat([]byte("h"), 5000)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutFunc("last", 1<<20, fillWith('z')); err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		id := fmt.Sprint("o", i)
		o := s.objs[id]
		if o.spilled == "" {
			t.Fatalf("%s (%d bytes) not spilled", id, n)
		}
		if st, err := os.Stat(o.spilled); err != nil || st.Size() != n {
			t.Fatalf("%s: spill file of %v bytes (%v), want %d", id, st.Size(), err, n)
		}
		got, err := s.Get(id)
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + i)}, int(n))) {
			t.Fatalf("%s (%d bytes) reads back wrong: %v", id, n, err)
		}
	}
	if got, err := s.Get("heap"); err != nil || !bytes.Equal(got, bytes.Repeat([]byte("h"), 5000)) {
		t.Fatalf("heap object reads back wrong: %v", err)
	}
}
