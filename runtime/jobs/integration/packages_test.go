package integration

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLargeWorkingDir is the journey of a Go developer shipping their own
// program: a working dir with a Go binary (goray-examples, tens of MB
// race-built, under another name) and 100 MiB of data goes up with `goray
// job submit --working-dir` to a token-auth head with a worker node on
// loopback, and the jobs check the data arrived whole and run the binary
// there — a driver whose tasks run on the cluster. (That the head holds a
// package in chunks, not whole, is TestPackageUploadStreams': the peak
// memory of race-built processes says little.)
func TestLargeWorkingDir(t *testing.T) {
	needProcesses(t)
	c := startCluster(t, "127.0.0.185", "127.0.0.186", randomToken(t))
	app := filepath.Join(t.TempDir(), "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	// 100 MiB that no zip compresses, generated here: the package is as large.
	blob, err := os.Create(filepath.Join(app, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(blob, h), rand.Reader, 100<<20); err != nil {
		t.Fatal(err)
	}
	if err := blob.Close(); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	copyExecutable(t, filepath.Join(binDir, "goray-examples"), filepath.Join(app, "cube"))

	// The package goes up and is unpacked for a job that checks the data.
	out, err := c.goray("job", "submit", "--address", c.url(), "--working-dir", app, "--submission-id", "big-dir",
		"--", "sha256sum", "blob")
	if err != nil || !strings.Contains(out, want+"  blob") || !strings.Contains(out, "Job 'big-dir' succeeded") {
		t.Fatalf("goray job submit: %v\n%s\nhead:\n%s", err, clip(out), clip(c.head.log()))
	}

	// The Go program in it runs as a driver whose tasks run on the cluster
	// (the package is on the head already: the CLI finds it, sends nothing).
	out, err = c.goray("job", "submit", "--address", c.url(), "--working-dir", app, "--submission-id", "big-dir-cube",
		"--", "./cube", "square")
	if err != nil || !strings.Contains(out, "[0 1 4 9]") || !strings.Contains(out, "Job 'big-dir-cube' succeeded") {
		t.Fatalf("goray job submit ./cube: %v\n%s\nhead:\n%s", err, clip(out), clip(c.head.log()))
	}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func clip(s string) string {
	if len(s) > 4000 {
		return s[:2000] + "\n...\n" + s[len(s)-2000:]
	}
	return s
}
