package operator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
)

func TestLoggerWritesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logs", "operator.log")
	var stderr strings.Builder
	level := zapcore.InfoLevel
	log, closer, err := NewLogger(crzap.Options{DestWriter: &stderr, Level: level}, LogOptions{StdoutEncoder: "console", FilePath: path})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello", "cluster", "demo")
	log.V(1).Info("debug line, below the level")
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 1 {
		t.Fatalf("file has %d lines, want 1 (the debug line is below the level):\n%s", len(lines), b)
	}
	var entry map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
		t.Fatalf("file line is not JSON (default --log-file-encoder): %v: %s", err, lines[0])
	}
	if entry["msg"] != "hello" || entry["cluster"] != "demo" {
		t.Errorf("file entry %v", entry)
	}
	if s := stderr.String(); !strings.Contains(s, "hello") || strings.HasPrefix(strings.TrimSpace(s), "{") {
		t.Errorf("stderr %q: want the line, console-encoded", s)
	}
}

func TestLoggerStdoutJSON(t *testing.T) {
	var stderr strings.Builder
	log, _, err := NewLogger(crzap.Options{DestWriter: &stderr, Development: true}, LogOptions{StdoutEncoder: "json"})
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hello")
	var entry map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stderr.String())), &entry); err != nil || entry["msg"] != "hello" {
		t.Errorf("stderr %q is not a JSON line even with --zap-devel: %v", stderr.String(), err)
	}
}

func TestLoggerRefusesUnknownEncoders(t *testing.T) {
	for _, lo := range []LogOptions{{StdoutEncoder: "text"}, {FilePath: filepath.Join(t.TempDir(), "f"), FileEncoder: "xml"}} {
		if _, _, err := NewLogger(crzap.Options{}, lo); err == nil || !strings.Contains(err.Error(), "want json or console") {
			t.Errorf("%+v: error %v", lo, err)
		}
	}
}

func TestRotatingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "op.log")
	f, err := openRotatingFile(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeeeeeeeeeeeeeee\n"} {
		if _, err := f.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	// A line longer than the limit still goes out whole, in a file of its own;
	// only the previous file is kept.
	if got, got1 := read(path), read(path+".1"); got != "eeeeeeeeeeeeeeee\n" || got1 != "cccc\ndddd\n" {
		t.Errorf("file %q, .1 %q", got, got1)
	}
	// Reopening appends and counts what is there.
	f, err = openRotatingFile(path, 20)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte("ffff\n"))
	_ = f.Close()
	if got := read(path + ".1"); got != "eeeeeeeeeeeeeeee\n" {
		t.Errorf(".1 after reopen %q", got)
	}
}
