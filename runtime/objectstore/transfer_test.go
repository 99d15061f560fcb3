//go:build linux

package objectstore

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestSegmentHandsObjectsBothWays(t *testing.T) {
	dir, nodeEnd, seg := segmentPair(t)
	obj := bytes.Repeat([]byte("goray"), 1000)
	// Worker → node: the worker copies in, the node copies out.
	got := make([]byte, len(obj))
	err := seg.Use(func(name string, buf []byte) error {
		copy(buf[7:], obj)
		return nodeEnd.CopyFrom(name, 7, got)
	})
	if err != nil || !bytes.Equal(got, obj) {
		t.Fatalf("CopyFrom: %v, equal %v", err, bytes.Equal(got, obj))
	}
	// Node → worker.
	back := []byte("the other way")
	err = seg.Use(func(name string, buf []byte) error {
		if err := nodeEnd.CopyTo(name, back); err != nil {
			return err
		}
		got = append([]byte(nil), buf[:len(back)]...)
		return nil
	})
	if err != nil || !bytes.Equal(got, back) {
		t.Fatalf("CopyTo: %v, got %q", err, got)
	}
	nodeEnd.Drop(SegmentName("w1"))
	if _, err := os.Stat(filepath.Join(dir, SegmentName("w1"))); !os.IsNotExist(err) {
		t.Fatalf("dropped segment still there: %v", err)
	}
}

func TestSegmentsRefuseWhatIsNotASegment(t *testing.T) {
	dir := newTransferDir(t.TempDir())
	s := NewSegments(dir)
	defer s.Close()
	if err := os.WriteFile(filepath.Join(dir, "seg-small"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "seg-link")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	for _, name := range []string{"../x", "seg-../../etc/passwd", "seg-", "other", "seg-small", "seg-link", "seg-missing"} {
		if err := s.CopyFrom(name, 0, buf); err == nil {
			t.Errorf("CopyFrom(%q) = nil, want an error", name)
		}
	}
	if _, err := CreateSegment(dir, "w2"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ off, n int64 }{{-1, 4}, {SegmentSize - 2, 4}, {SegmentSize, 0}} {
		if err := s.CopyFrom("seg-w2", c.off, make([]byte, c.n)); err == nil && c.n > 0 {
			t.Errorf("CopyFrom at [%d,+%d) = nil, want an error", c.off, c.n)
		}
	}
	if err := s.CopyTo("seg-w2", make([]byte, SegmentSize+1)); err == nil {
		t.Error("CopyTo of more than a segment = nil, want an error")
	}
	if NewSegments("").CopyFrom("seg-w2", 0, buf) == nil {
		t.Error("a node without a transfer directory copied")
	}
	if _, err := CreateSegment(dir, "../w"); err == nil {
		t.Error("CreateSegment with a path for a worker id = nil, want an error")
	}
}

// A worker that truncates its segment while the node reads it makes the
// node's copy fail, not crash it.
func TestTruncatedSegmentIsAnErrorNotACrash(t *testing.T) {
	dir := newTransferDir(t.TempDir())
	s := NewSegments(dir)
	defer s.Close()
	if _, err := CreateSegment(dir, "w3"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	if err := s.CopyFrom("seg-w3", 0, buf); err != nil { // mapped now
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "seg-w3"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyFrom("seg-w3", 0, buf); err == nil {
		t.Fatal("copy from a truncated segment = nil, want an error")
	}
}

func TestStaleTransferDirsAreRemoved(t *testing.T) {
	root := t.TempDir()
	// A process that is gone: a child that exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot run true:", err)
	}
	dead := filepath.Join(root, transferPrefix+strconv.Itoa(cmd.Process.Pid)+"-x")
	alive := filepath.Join(root, transferPrefix+strconv.Itoa(os.Getppid())+"-y")
	other := filepath.Join(root, "unrelated")
	for _, d := range []string{dead, alive, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	mine := newTransferDir(root)
	for d, want := range map[string]bool{dead: false, alive: true, other: true, mine: true} {
		if _, err := os.Stat(d); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(d), err == nil, want)
		}
	}
}

// A segment dropped (its worker exited) while a copy uses it stays mapped
// until the copy is done; later copies fail cleanly.
func TestDroppedSegmentOutlivesItsCopies(t *testing.T) {
	dir := newTransferDir(t.TempDir())
	s := NewSegments(dir)
	defer s.Close()
	seg, err := CreateSegment(dir, "w4")
	if err != nil {
		t.Fatal(err)
	}
	_ = seg.Use(func(_ string, buf []byte) error { copy(buf, "kept"); return nil })
	m, err := s.acquire("seg-w4") // a copy in progress
	if err != nil {
		t.Fatal(err)
	}
	s.Drop("seg-w4")
	if string(m.b[:4]) != "kept" { // still mapped: reading does not fault
		t.Fatalf("read %q", m.b[:4])
	}
	s.release(m)
	if err := s.CopyFrom("seg-w4", 0, make([]byte, 4)); err == nil {
		t.Fatal("copy from a dropped segment = nil, want an error")
	}
}

// A fill that faults on a segment (its file truncated under the mapping)
// is an error; any other panic of the fill is the fill's own and goes on.
func TestSafeFillTurnsOnlyFaultsIntoErrors(t *testing.T) {
	dir := newTransferDir(t.TempDir())
	seg, err := CreateSegment(dir, "w4")
	if err != nil {
		t.Fatal(err)
	}
	err = seg.Use(func(name string, buf []byte) error {
		if err := SafeFill(buf[:4], func(dst []byte) { copy(dst, "ok!!") }); err != nil {
			return err
		}
		if string(buf[:4]) != "ok!!" {
			t.Fatalf("segment holds %q after the fill, want ok!!", buf[:4])
		}
		if err := os.Truncate(filepath.Join(dir, name), 0); err != nil {
			return err
		}
		if err := SafeFill(buf[:1<<20], func(dst []byte) { copy(dst, bytes.Repeat([]byte{1}, len(dst))) }); err == nil {
			t.Fatal("fill of a truncated segment = nil, want an error")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != "the fill's own" {
			t.Fatalf("recovered %v, want the fill's own panic", r)
		}
	}()
	_ = SafeFill(make([]byte, 1), func([]byte) { panic("the fill's own") })
}

// ReadTo hands an object in memory and a spilled one straight into a
// worker's segment (FillTo), the spilled one read from its file into it.
func TestReadToFillsASegment(t *testing.T) {
	_, nodeEnd, seg := segmentPair(t)
	s := New(1<<20, t.TempDir())
	defer s.Close()
	const n = 700 << 10
	for _, id := range []string{"old", "new"} { // old spills when new comes
		if err := s.PutFunc(id, n, fillWith(id[0])); err != nil {
			t.Fatal(err)
		}
	}
	if s.objs["old"].spilled == "" || s.objs["new"].spilled != "" {
		t.Fatal("want old spilled and new in memory")
	}
	for _, id := range []string{"old", "new"} {
		err := seg.Use(func(name string, buf []byte) error {
			err := s.ReadTo(id, func(size int64, copyTo func([]byte) error) error {
				if size != n {
					t.Fatalf("%s: size %d", id, size)
				}
				return nodeEnd.FillTo(name, size, copyTo)
			})
			if err != nil {
				return err
			}
			if !bytes.Equal(buf[:n], bytes.Repeat([]byte{id[0]}, n)) {
				t.Fatalf("%s: the segment holds other bytes", id)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if err := s.ReadTo("gone", func(int64, func([]byte) error) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadTo of no object: %v", err)
	}
	if err := nodeEnd.FillTo(SegmentName("w1"), SegmentSize+1, func([]byte) error { return nil }); err == nil {
		t.Fatal("FillTo past the segment's end did not fail")
	}
}

// segmentPair is a transfer directory, the node's end of it and worker
// w1's segment in it.
func segmentPair(t *testing.T) (string, *Segments, *Segment) {
	t.Helper()
	dir := newTransferDir(t.TempDir())
	if dir == "" {
		t.Fatal("no transfer directory made")
	}
	nodeEnd := NewSegments(dir)
	t.Cleanup(nodeEnd.Close)
	seg, err := CreateSegment(dir, "w1")
	if err != nil {
		t.Fatal(err)
	}
	return dir, nodeEnd, seg
}
