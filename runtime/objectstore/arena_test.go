package objectstore

import (
	"bytes"
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
