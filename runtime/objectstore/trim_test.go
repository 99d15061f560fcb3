package objectstore

import (
	"testing"
	"time"
)

func TestPoolNextTrim(t *testing.T) {
	p := &pool{max: 1 << 30, idle: 10 * time.Second}
	if _, ok := p.nextTrim(); ok {
		t.Fatal("empty pool has nothing to trim")
	}
	t0 := time.Unix(1000, 0)
	p.put(&region{buf: make([]byte, pageSize)}, t0)
	p.put(&region{buf: make([]byte, pageSize)}, t0.Add(time.Second))
	at, ok := p.nextTrim()
	if !ok || !at.After(t0.Add(10*time.Second)) || at.After(t0.Add(11*time.Second)) {
		t.Fatalf("next trim at %v (ok %v); want just after %v", at, ok, t0.Add(10*time.Second))
	}
	p.trim(t0.Add(10 * time.Second))
	if len(p.free) != 2 {
		t.Fatalf("trimmed at exactly the idle time: %d left", len(p.free))
	}
	p.trim(at)
	if len(p.free) != 1 || p.bytes != pageSize {
		t.Fatalf("after the first trim: %d regions, %d bytes", len(p.free), p.bytes)
	}
	if at2, _ := p.nextTrim(); !at2.After(t0.Add(11 * time.Second)) {
		t.Fatalf("second trim at %v", at2)
	}
}

// Freed memory is unmapped after the pool's idle time even when no put
// comes to trim the pool (the drivers that used the store have exited).
func TestIdlePoolUnmappedWithoutPuts(t *testing.T) {
	s := New(64<<20, t.TempDir())
	defer s.Close()
	s.mu.Lock()
	s.regions.idle = 50 * time.Millisecond
	s.mu.Unlock()
	for _, id := range []string{"a", "b"} {
		if err := s.PutFuncFor(id, "o:1", 4<<20, fillWith('a')); err != nil {
			t.Fatal(err)
		}
	}
	s.DeleteOwned("o:1")
	if st := s.Stats(); st.PooledBytes < 8<<20 {
		t.Fatalf("freed regions not pooled: %+v", st)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().PooledBytes != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("pool still holds %d bytes 10 s after an idle time of 50 ms", s.Stats().PooledBytes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
