package jobs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func writeN(n int) func(*os.File) error {
	return func(f *os.File) error {
		_, err := f.Write(make([]byte, n))
		return err
	}
}

func TestURICacheFetchesOnce(t *testing.T) {
	c, err := newURICache(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	fetch := func(f *os.File) error { fetches.Add(1); return writeN(10)(f) }
	var wg sync.WaitGroup
	var cachedUses atomic.Int32
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.use(context.Background(), "https://a/x.zip", fetch, func(path string, cached bool) error {
				if cached {
					cachedUses.Add(1)
				}
				st, err := os.Stat(path)
				if err == nil && st.Size() != 10 {
					t.Errorf("cached zip of %d bytes", st.Size())
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if fetches.Load() != 1 || cachedUses.Load() != 3 {
		t.Fatalf("%d fetches and %d cached uses, want 1 and 3", fetches.Load(), cachedUses.Load())
	}
	if len(c.locks) != 0 {
		t.Fatalf("locks left: %v", c.locks)
	}
}

func TestURICacheKeepsNoFailure(t *testing.T) {
	dir := t.TempDir()
	c, err := newURICache(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	ok := func(string, bool) error { return nil }
	// A failed download leaves neither a zip nor a partial file.
	if err := c.use(context.Background(), "u1", func(f *os.File) error { _ = writeN(5)(f); return boom }, ok); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	// A zip its user could not unpack is dropped: the next job fetches again.
	if err := c.use(context.Background(), "u2", writeN(5), func(string, bool) error { return boom }); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("left in the cache: %v", left)
	}
	fetched := false
	if err := c.use(context.Background(), "u2", func(f *os.File) error { fetched = true; return writeN(5)(f) }, ok); err != nil || !fetched {
		t.Fatalf("u2 again: fetched=%v %v", fetched, err)
	}
}

func TestURICacheEvictsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	c, err := newURICache(dir, 250)
	if err != nil {
		t.Fatal(err)
	}
	ok := func(string, bool) error { return nil }
	use := func(uri string) {
		t.Helper()
		if err := c.use(context.Background(), uri, writeN(100), ok); err != nil {
			t.Fatal(err)
		}
	}
	// Distinct, ordered use times whatever the file system's clock grain.
	age := func(uri string, ago time.Duration) {
		t.Helper()
		at := time.Now().Add(-ago)
		if err := os.Chtimes(filepath.Join(dir, cacheKey(uri)+".zip"), at, at); err != nil {
			t.Fatal(err)
		}
	}
	use("a")
	age("a", 3*time.Hour)
	use("b")
	age("b", 2*time.Hour)
	use("a") // a is now the most recently used
	use("c") // 300 bytes: b, used longest ago, goes
	has := func(uri string) bool {
		_, err := os.Stat(filepath.Join(dir, cacheKey(uri)+".zip"))
		return err == nil
	}
	if !has("a") || has("b") || !has("c") {
		t.Fatalf("after eviction a=%v b=%v c=%v, want a and c", has("a"), has("b"), has("c"))
	}
	// A zip someone holds is not evicted, nor the one just used even if alone it is over the bound.
	unlock, err := c.lock(context.Background(), cacheKey("a"))
	if err != nil {
		t.Fatal(err)
	}
	age("a", time.Hour)
	if err := c.use(context.Background(), "big", writeN(400), ok); err != nil {
		t.Fatal(err)
	}
	unlock()
	if !has("a") || has("c") || !has("big") {
		t.Fatalf("a=%v c=%v big=%v, want a (held) and big (just used)", has("a"), has("c"), has("big"))
	}
}

func TestURICacheLockHonoursContext(t *testing.T) {
	c, err := newURICache(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := c.lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.lock(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting for a held lock with a cancelled context: %v", err)
	}
	if _, ok := c.tryLock("k"); ok {
		t.Fatal("tryLock took a held lock")
	}
	unlock()
	if len(c.locks) != 0 {
		t.Fatalf("locks left: %v", c.locks)
	}
}

func TestURICacheDropsPartialDownloads(t *testing.T) {
	dir := t.TempDir()
	part := filepath.Join(dir, cacheKey("u")+"-123.part")
	if err := os.WriteFile(part, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := newURICache(dir, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(part); !os.IsNotExist(err) {
		t.Fatalf("a partial download survived: %v", err)
	}
}
