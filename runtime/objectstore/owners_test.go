package objectstore

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// An owner's objects go with DeleteOwned wherever they are: in store memory
// (back to the pool) or spilled (the files are removed). Other owners'
// objects and objects without an owner stay.
func TestDeleteOwnedFreesMemoryAndSpillFiles(t *testing.T) {
	dir := t.TempDir()
	s := New(8<<20, dir)
	defer s.Close()
	const mb = 1 << 20
	for _, id := range []string{"a1", "a2", "a3"} {
		if err := s.PutFuncFor(id, "10.0.0.1:7000", 3*mb, fillWith('a')); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutFor("b1", "10.0.0.2:7000", bytes.Repeat([]byte("b"), mb)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("anon", bytes.Repeat([]byte("n"), mb)); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.SpilledObjects == 0 {
		t.Fatalf("want some of a's objects spilled with 11 MB in an 8 MB store: %+v", st)
	}
	if files, _ := os.ReadDir(dir); int64(len(files)) != st.SpilledObjects {
		t.Fatalf("%d spill files for %d spilled objects", len(files), st.SpilledObjects)
	}
	if got := s.Owners(); len(got) != 2 || got["10.0.0.2:7000"] != "b1" || got["10.0.0.1:7000"][:1] != "a" {
		t.Fatalf("owners: %v", got)
	}

	n, freed := s.DeleteOwned("10.0.0.1:7000")
	if n != 3 || freed != 9*mb {
		t.Fatalf("DeleteOwned: %d objects, %d bytes; want 3, %d", n, freed, 9*mb)
	}
	st = s.Stats()
	if st.Used != 2*mb || st.Objects != 2 || st.SpilledBytes != 0 || st.SpilledObjects != 0 {
		t.Fatalf("after DeleteOwned: %+v", st)
	}
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Fatalf("spill files left: %d", len(files))
	}
	if _, err := s.Get("a1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a1 after DeleteOwned: %v", err)
	}
	if got, err := s.Get("b1"); err != nil || !bytes.Equal(got, bytes.Repeat([]byte("b"), mb)) {
		t.Fatalf("b1: %v", err)
	}
	if got := s.Owners(); len(got) != 1 || got["10.0.0.2:7000"] != "b1" {
		t.Fatalf("owners after: %v", got)
	}
	if n, _ := s.DeleteOwned("10.0.0.1:7000"); n != 0 {
		t.Fatalf("second DeleteOwned freed %d", n)
	}
	if n, _ := s.DeleteOwned(""); n != 0 {
		t.Fatalf("objects without an owner are never freed by owner: %d", n)
	}
	s.Delete("b1")
	if got := s.Owners(); len(got) != 0 {
		t.Fatalf("owners after deleting the last object: %v", got)
	}
}

// A reader inside Read keeps its bytes when the owner's objects are freed
// under it; the memory returns to the pool when it is done.
func TestDeleteOwnedWhileRead(t *testing.T) {
	s := New(64<<20, t.TempDir())
	defer s.Close()
	if err := s.PutFuncFor("x", "owner:1", 2<<20, fillWith('x')); err != nil {
		t.Fatal(err)
	}
	err := s.Read("x", func(b []byte) error {
		if n, _ := s.DeleteOwned("owner:1"); n != 1 {
			t.Errorf("DeleteOwned freed %d objects", n)
		}
		if st := s.Stats(); st.Used != 0 || st.PooledBytes != 0 {
			t.Errorf("pinned region pooled or counted: %+v", st)
		}
		if !bytes.Equal(b, bytes.Repeat([]byte("x"), 2<<20)) {
			t.Error("pinned bytes changed")
		}
		return nil
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.PooledBytes == 0 || st.Objects != 0 {
		t.Fatalf("after the read: %+v", st)
	}
}

// Storing an id again keeps the first copy and its owner.
func TestOwnerOfFirstCopyKept(t *testing.T) {
	s := New(64<<20, t.TempDir())
	defer s.Close()
	_ = s.PutFor("x", "first:1", []byte("1"))
	_ = s.PutFor("x", "second:1", []byte("2"))
	if n, _ := s.DeleteOwned("second:1"); n != 0 || !s.Contains("x") {
		t.Fatal("a second put must not take the object over")
	}
	if n, _ := s.DeleteOwned("first:1"); n != 1 || s.Contains("x") {
		t.Fatal("the first owner's object was not freed")
	}
}
