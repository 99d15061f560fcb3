package exehash

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(p, []byte("abc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// sha256("abc"), FIPS 180-2's example.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got, err := File(p); err != nil || got != want {
		t.Fatalf("File = %q, %v; want %q", got, err, want)
	}
	if _, err := File(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("File of a missing file: nil error")
	}
}

// A file is hashed once while it stays the same file, by one of the
// callers asking at once; rewritten, it is hashed again.
func TestFileKeepsItsHashWhileTheFileIsTheSame(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(p, []byte("abc"), 0o755); err != nil {
		t.Fatal(err)
	}
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, err := File(p); err != nil || got != abc {
				t.Errorf("File = %q, %v; want %q", got, err, abc)
			}
		})
	}
	wg.Wait()
	memo.Lock()
	h := memo.m[p]
	memo.Unlock()
	if h == nil || h.hash != abc {
		t.Fatalf("the hash of %s was not kept: %+v", p, h)
	}
	// Rewritten (a rebuild): another size, another modification time.
	later := time.Now().Add(time.Hour)
	if err := os.WriteFile(p, []byte("abcd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	// sha256("abcd")
	const abcd = "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589"
	if got, err := File(p); err != nil || got != abcd {
		t.Fatalf("File of the rewritten file = %q, %v; want %q", got, err, abcd)
	}
}
