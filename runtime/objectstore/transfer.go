package objectstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// Local transfer: a worker and its own node run on one machine, so an
// object between them need not go through gRPC (a copy into protobuf
// messages, HTTP/2 framing and flow control, two socket copies and a copy
// out on the other side). The node makes a private directory in shared
// memory (/dev/shm, a tmpfs); each worker makes one segment file there,
// mapped by both. A put copies the object into the worker's segment and
// sends the node only the segment's name and the object's place in it;
// the node copies it into its store. A fetch goes the other way. The
// segment is reused, so its pages are allocated once: writing fresh
// tmpfs or heap pages (a page fault and a cleared page each) costs more
// than the copy itself. Ray's workers write into plasma's shared memory
// for the same reason; a copy keeps the store's memory the node's own
// (spilling, accounting, an object outliving its worker). An object
// bigger than a segment goes through gRPC.

const (
	transferRoot   = "/dev/shm"
	transferPrefix = "goray-objects-"
	segmentPrefix  = "seg-"
	// SegmentSize is a worker's segment: the largest object it hands over
	// in shared memory.
	SegmentSize = 64 << 20
)

// TransferOff is the environment variable that, set to "off", keeps a
// node's objects on gRPC (no shared-memory transfer): for a /dev/shm that
// misbehaves, and for measuring what the transfer saves.
const TransferOff = "GORAY_LOCAL_OBJECT_TRANSFER"

// NewTransferDir makes a node's transfer directory in shared memory,
// readable by this user only, and removes those of nodes that died
// without removing theirs (the name holds the node's pid). It returns ""
// where there is no shared memory to use, or TransferOff says not to
// (objects then go through gRPC).
func NewTransferDir() string {
	if os.Getenv(TransferOff) == "off" {
		return ""
	}
	return newTransferDir(transferRoot)
}

func newTransferDir(root string) string {
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		return ""
	}
	removeStaleTransferDirs(root)
	dir, err := os.MkdirTemp(root, transferPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return ""
	}
	return dir
}

// removeStaleTransferDirs removes the transfer directories under root of
// processes that are gone.
func removeStaleTransferDirs(root string) {
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), transferPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '-'), 0)])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if processGone(pid) {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
		}
	}
}

// SegmentName is the name of worker id's segment.
func SegmentName(workerID string) string { return segmentPrefix + workerID }

// validSegmentName reports whether name can be a segment's: a plain name,
// never a path out of the directory.
func validSegmentName(name string) bool {
	rest, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok || rest == "" || len(rest) > 64 {
		return false
	}
	for _, c := range rest {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// Segment is a worker's end of its segment. One transfer uses it at a
// time (Use holds it for the transfer's round trip).
type Segment struct {
	mu   sync.Mutex
	name string
	buf  []byte
}

// CreateSegment makes worker id's segment in dir. Writes into it go
// through SafeCopy: a page that cannot be allocated (a full /dev/shm)
// faults.
func CreateSegment(dir, workerID string) (*Segment, error) {
	name := SegmentName(workerID)
	if dir == "" || !validSegmentName(name) {
		return nil, fmt.Errorf("no transfer segment for worker %q in %q", workerID, dir)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC|noFollow, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf, err := mapSegmentFile(f, true)
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, err
	}
	return &Segment{name: name, buf: buf}, nil
}

// Use runs fn with the segment's name and memory, alone.
func (s *Segment) Use(fn func(name string, buf []byte) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(s.name, s.buf)
}

// Segments is a node's end: the segments of its workers, mapped on first
// use. A mapping is counted while a copy uses it, so a worker that exits
// meanwhile (Drop) does not unmap memory under the copy.
type Segments struct {
	dir string
	mu  sync.Mutex
	m   map[string]*mapping
}

type mapping struct {
	b       []byte
	users   int  // copies using it now
	dropped bool // unmap when the last user is done
}

// NewSegments serves the segments in dir ("" serves none).
func NewSegments(dir string) *Segments { return &Segments{dir: dir, m: map[string]*mapping{}} }

// Dir is the transfer directory ("" when there is none).
func (s *Segments) Dir() string { return s.dir }

// acquire maps segment name (once) and counts a user of it.
func (s *Segments) acquire(name string) (*mapping, error) {
	if s.dir == "" {
		return nil, errors.New("this node has no transfer directory")
	}
	if !validSegmentName(name) {
		return nil, fmt.Errorf("%q is not a transfer segment", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.m[name]; ok {
		m.users++
		return m, nil
	}
	f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_RDWR|noFollow, 0)
	if err != nil {
		return nil, fmt.Errorf("open transfer segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() != SegmentSize {
		return nil, fmt.Errorf("transfer segment %s is not a regular file of %d bytes", name, SegmentSize)
	}
	b, err := mapSegmentFile(f, false)
	if err != nil {
		return nil, err
	}
	m := &mapping{b: b, users: 1}
	s.m[name] = m
	return m, nil
}

func (s *Segments) release(m *mapping) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.users--
	if m.dropped && m.users == 0 {
		unmapSegment(m.b)
	}
}

// span checks that [off, off+n) is inside a segment.
func span(off, n int64) error {
	if off < 0 || n < 0 || off+n > SegmentSize {
		return fmt.Errorf("[%d,+%d) is outside a transfer segment of %d bytes", off, n, SegmentSize)
	}
	return nil
}

// CopyFrom copies [off, off+len(dst)) of segment name into dst.
func (s *Segments) CopyFrom(name string, off int64, dst []byte) error {
	if err := span(off, int64(len(dst))); err != nil {
		return err
	}
	m, err := s.acquire(name)
	if err != nil {
		return err
	}
	defer s.release(m)
	return SafeCopy(dst, m.b[off:off+int64(len(dst))])
}

// CopyTo copies src into segment name at offset 0.
func (s *Segments) CopyTo(name string, src []byte) error {
	if err := span(0, int64(len(src))); err != nil {
		return err
	}
	m, err := s.acquire(name)
	if err != nil {
		return err
	}
	defer s.release(m)
	return SafeCopy(m.b[:len(src)], src)
}

// FillTo has fill write n bytes into segment name at offset 0 (a fault
// in the segment is an error, as in CopyTo).
func (s *Segments) FillTo(name string, n int64, fill func(dst []byte) error) error {
	if err := span(0, n); err != nil {
		return err
	}
	m, err := s.acquire(name)
	if err != nil {
		return err
	}
	defer s.release(m)
	var ferr error
	if err := SafeFill(m.b[:n], func(dst []byte) { ferr = fill(dst) }); err != nil {
		return err
	}
	return ferr
}

// Drop forgets segment name and removes its file (its worker is gone); it
// is unmapped once no copy uses it.
func (s *Segments) Drop(name string) {
	if s.dir == "" || !validSegmentName(name) {
		return
	}
	s.mu.Lock()
	if m, ok := s.m[name]; ok {
		delete(s.m, name)
		s.dropLocked(m)
	}
	s.mu.Unlock()
	_ = os.Remove(filepath.Join(s.dir, name))
}

func (s *Segments) dropLocked(m *mapping) {
	m.dropped = true
	if m.users == 0 {
		unmapSegment(m.b)
	}
}

// Close forgets every segment (each unmapped once no copy uses it) and
// removes the directory.
func (s *Segments) Close() {
	s.mu.Lock()
	for name, m := range s.m {
		delete(s.m, name)
		s.dropLocked(m)
	}
	s.mu.Unlock()
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// SafeCopy copies between a mapped segment and memory, turning a fault (a
// full /dev/shm, a segment file truncated under the mapping) into an error
// instead of a crash.
func SafeCopy(dst, src []byte) (err error) {
	return SafeFill(dst, func(dst []byte) { copy(dst, src) })
}

// SafeFill runs fill on dst, a mapped segment, turning a fault in it into
// an error (as SafeCopy); any other panic of fill goes on.
func SafeFill(dst []byte, fill func(dst []byte)) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, fault := r.(interface{ Addr() uintptr }); !fault {
			panic(r)
		}
		err = fmt.Errorf("transfer segment unreadable: %v", r)
	}()
	fill(dst)
	return nil
}
