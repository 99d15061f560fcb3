package dashboard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogFilesListAndOpen(t *testing.T) {
	session, root := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(session, "logs", "worker-w1.log"), "hello\n")
	write(filepath.Join(root, "logs", "job-driver-s1.log"), "driver\n")
	write(filepath.Join(root, "logs", "goray-start-1.log"), "another node's log\n")
	write(filepath.Join(root, "secret"), "secret\n")
	own := filepath.Join(root, "logs", "goray-start-2.log")
	write(own, "this node's log\n")
	// Neither a link nor a directory is served, even inside the log directory.
	if err := os.Symlink(filepath.Join(root, "secret"), filepath.Join(session, "logs", "link.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(session, "logs", "dir.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	lf := LogFiles{Globs: []string{filepath.Join(session, "logs", "*.log"), filepath.Join(root, "logs", DriverLogName("*"))}, Files: []string{own}}
	var names []string
	for _, f := range lf.List() {
		names = append(names, f.Name+"="+LogCategory(f.Name))
	}
	if got := strings.Join(names, " "); got != "goray-start-2.log=raylet job-driver-s1.log=driver worker-w1.log=worker_out" {
		t.Fatalf("listing: %s", got)
	}
	f, err := lf.Open("worker-w1.log")
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	for name, want := range map[string]string{
		"../secret": "not a file name", "..": "not a file name", "": "empty", "a\x00b": "not a file name",
		"link.log": "no such log file", "secret": "no such log file", "goray-start-1.log": "no such log file",
		strings.Repeat("x", 300): "at most 255",
	} {
		if _, err := lf.Open(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q): %v; want %q", name, err, want)
		}
	}
	if _, err := lf.Open("secret"); !errors.Is(err, errNoLogFile) {
		t.Errorf("an unlisted name is not errNoLogFile: %v", err)
	}
}

func TestTailStart(t *testing.T) {
	for _, c := range []struct {
		text     string
		lines    int
		maxBytes int64
		want     string
	}{
		{"a\nb\nc\n", 2, 100, "b\nc\n"},
		{"a\nb\nc", 2, 100, "b\nc"}, // the last line without its newline counts
		{"a\nb\nc\n", 5, 100, "a\nb\nc\n"},
		{"a\nb\nc\n", 0, 100, "a\nb\nc\n"},
		{"a\nb\nc\n", 0, 3, "\nc\n"},   // the byte bound wins
		{"aaaa\nbbbb\n", 1, 3, "bb\n"}, // even within a line
		{"", 3, 100, ""},
		{"\n\n\n", 2, 100, "\n\n"},
		{strings.Repeat("x\n", 100_000), 3, 1 << 20, "x\nx\nx\n"}, // across read chunks
	} {
		r := strings.NewReader(c.text)
		start, err := tailStart(r, int64(len(c.text)), c.lines, c.maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.text[start:]; got != c.want {
			t.Errorf("tail %d of %q (max %d): %q, want %q", c.lines, clipParam(c.text), c.maxBytes, got, c.want)
		}
	}
}
