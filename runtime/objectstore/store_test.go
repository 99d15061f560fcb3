package objectstore

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

func TestSpillRestoreFree(t *testing.T) {
	dir := t.TempDir()
	s := New(100, dir)
	a, b, c := bytes.Repeat([]byte("a"), 60), bytes.Repeat([]byte("b"), 60), bytes.Repeat([]byte("c"), 200)
	if err := s.Put("a", a); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("b", b); err != nil { // a spills
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Used != 60 || st.SpilledObjects != 1 || st.SpilledBytes != 60 {
		t.Fatalf("after spill: %+v", st)
	}
	got, err := s.Get("a") // restores a, spills b
	if err != nil || !bytes.Equal(got, a) {
		t.Fatalf("restore a: %v", err)
	}
	st = s.Stats()
	if st.RestoredObjects != 1 || st.SpilledObjects != 1 || st.Used != 60 {
		t.Fatalf("after restore: %+v", st)
	}
	if err := s.Put("c", c); err != nil { // bigger than capacity: straight to disk
		t.Fatal(err)
	}
	if got, _ := s.Get("c"); !bytes.Equal(got, c) {
		t.Fatal("c corrupted")
	}
	s.Delete("a", "b", "c")
	st = s.Stats()
	if st.Used != 0 || st.Objects != 0 || st.SpilledBytes != 0 {
		t.Fatalf("after delete: %+v", st)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("spill files left: %d", len(ents))
	}
	if _, err := s.Get("a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
}
