package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRotatingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), nodeLogName)
	r := &rotatingFile{path: p, max: 10}
	if err := r.open(); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"aaaa\n", "bbbb\n", "cccc\n"} {
		if n, err := r.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("write %q: %d %v", s, n, err)
		}
	}
	r.close()
	cur, _ := os.ReadFile(p)
	old, _ := os.ReadFile(p + ".1")
	if string(cur) != "cccc\n" || string(old) != "aaaa\nbbbb\n" {
		t.Fatalf("current %q, previous %q", cur, old)
	}
	// A closed file drops writes without failing the logger.
	if n, err := r.Write([]byte("late\n")); n != 5 || err != nil {
		t.Fatalf("write after close: %d %v", n, err)
	}
	if b, _ := os.ReadFile(p); strings.Contains(string(b), "late") {
		t.Fatalf("written after close: %q", b)
	}
}
