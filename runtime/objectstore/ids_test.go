package objectstore

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestIDsListsMemoryAndSpilled: IDs names every object, in memory or
// spilled, and deleting them all empties the store and its spill directory.
func TestIDsListsMemoryAndSpilled(t *testing.T) {
	dir := t.TempDir()
	s := New(100, dir)
	defer s.Close()
	for _, id := range []string{"a", "b"} {
		if err := s.Put(id, bytes.Repeat([]byte(id), 60)); err != nil { // the first spills
			t.Fatal(err)
		}
	}
	ids := s.IDs()
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"a", "b"}) || s.Stats().SpilledObjects != 1 {
		t.Fatalf("IDs = %v with %+v; want a (spilled) and b", ids, s.Stats())
	}
	s.Delete(s.IDs()...)
	st := s.Stats()
	if len(s.IDs()) != 0 || st.Used != 0 || st.Objects != 0 || st.SpilledObjects != 0 || st.SpilledBytes != 0 {
		t.Fatalf("after deleting every id: %v, %+v", s.IDs(), st)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil && !fi.IsDir() {
			t.Fatalf("spill file %s left", f)
		}
	}
}
