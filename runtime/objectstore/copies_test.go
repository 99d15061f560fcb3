package objectstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
)

// A copy of another node's object goes first when the store needs room,
// and is dropped, not spilled; an owner with only copies here is not
// probed through them.
func TestCopiesAreDroppedBeforeAnythingSpills(t *testing.T) {
	dir := t.TempDir()
	s := New(100, dir)
	defer s.Close()
	put := func(id string, b byte, isCopy bool) {
		t.Helper()
		data := bytes.Repeat([]byte{b}, 40)
		fill := func(buf []byte) error { copy(buf, data); return nil }
		var err error
		if isCopy {
			err = s.PutCopyFunc(id, "owner-"+id, 40, fill)
		} else {
			err = s.PutFuncFor(id, "owner-"+id, 40, fill)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	put("copy", 'c', true)
	put("a", 'a', false)
	if owners := s.Owners(); len(owners) != 1 || owners["owner-a"] != "a" {
		t.Fatalf("owners probed: %v (a copy's owner is not probed through it)", owners)
	}
	// Older than a, but a copy: it goes, and nothing spills.
	put("b", 'b', false)
	st := s.Stats()
	if st.DroppedCopies != 1 || st.SpilledObjects != 0 || st.Objects != 2 || st.Used != 80 {
		t.Fatalf("after the third put: %+v", st)
	}
	if _, err := s.Get("copy"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the dropped copy: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("spill files: %d", len(ents))
	}
	// With no copy left, the least recently used object spills as before.
	put("c", 'c', false)
	if st := s.Stats(); st.SpilledObjects != 1 || st.DroppedCopies != 1 {
		t.Fatalf("after the fourth put: %+v", st)
	}
	// A pinned copy is not dropped.
	put("copy2", 'd', true)
	err := s.Read("copy2", func(b []byte) error {
		put("e", 'e', false)
		return nil
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("copy2"); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{'d'}, 40)) {
		t.Fatalf("the pinned copy: %q, %v", got, err)
	}
	// A copy is freed with its owner's objects.
	if n, _ := s.DeleteOwned("owner-copy2"); n != 1 {
		t.Fatalf("DeleteOwned freed %d objects", n)
	}
	// A copy stored again as the node's own object is kept for good.
	put("copy3", 'f', true)
	put("copy3", 'f', false)
	for i := range 3 {
		put(fmt.Sprint("x", i), 'x', false)
	}
	if got, err := s.Get("copy3"); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{'f'}, 40)) {
		t.Fatalf("a copy put again as an object: %q, %v", got, err)
	}
}
