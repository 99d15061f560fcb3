package bench

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestInParallel(t *testing.T) {
	var seen [1000]atomic.Int32
	if err := inParallel(8, len(seen), func(i int) error { seen[i].Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Fatalf("index %d called %d times, want once", i, n)
		}
	}
	boom := errors.New("boom")
	var calls atomic.Int32
	err := inParallel(4, 1000, func(i int) error {
		calls.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("inParallel = %v, want the first error", err)
	}
	if calls.Load() == 1000 {
		t.Fatal("the error stopped nothing: all 1000 indices were called")
	}
}
