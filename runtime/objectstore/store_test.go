package objectstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
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
	got, err := s.Get("a") // read from its file: b stays in memory
	if err != nil || !bytes.Equal(got, a) {
		t.Fatalf("restore a: %v", err)
	}
	st = s.Stats()
	if st.RestoredObjects != 1 || st.SpilledObjects != 1 || st.Used != 60 {
		t.Fatalf("after reading a spilled object: %+v", st)
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

// Puts, reads and deletes from many goroutines into a store that must
// spill most of what it holds (its spill writes run without the lock):
// every read sees what was put, and nothing is left at the end.
func TestConcurrentSpillingKeepsObjectsWhole(t *testing.T) {
	dir := t.TempDir()
	s := New(64<<10, dir)
	defer s.Close()
	fill := func(id string, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(len(id) + i*31 + int(id[len(id)-1]))
		}
		return b
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			var mine []string
			for i := range 150 {
				id := fmt.Sprintf("g%d-o%d", g, i)
				n := 1000 + (i*7919+g*104729)%20000
				var err error
				if i%2 == 0 {
					err = s.Put(id, fill(id, n))
				} else {
					err = s.PutFunc(id, int64(n), func(buf []byte) error { copy(buf, fill(id, n)); return nil })
				}
				if err != nil {
					errs <- err
					return
				}
				mine = append(mine, id)
				check := mine[(i*13)%len(mine)]
				if err := s.Read(check, func(b []byte) error {
					if !bytes.Equal(b, fill(check, len(b))) {
						return fmt.Errorf("%s changed", check)
					}
					return nil
				}, i%3 == 0); err != nil {
					errs <- err
					return
				}
				if i%5 == 4 {
					s.Delete(mine[0])
					mine = mine[1:]
				}
			}
			s.Delete(mine...)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Objects != 0 || st.Used != 0 || st.SpilledBytes != 0 || st.TotalSpilled == 0 {
		t.Fatalf("after all deleted: %+v (and some spilled on the way)", st)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("%d spill files left", len(ents))
	}
}
