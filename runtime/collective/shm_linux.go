package collective

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// createSegment makes a group's segment for n members (rank 0's part):
// the file is allocated in full now, so that a /dev/shm too small fails
// here with ENOSPC rather than killing a member with SIGBUS later.
func createSegment(n int) (*segment, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(shmDir, &st); err != nil {
		return nil, err
	}
	if st.Type != unix.TMPFS_MAGIC {
		return nil, fmt.Errorf("%s is not tmpfs", shmDir)
	}
	data, area := segmentLayout(n, segmentBudget)
	if area == 0 {
		return nil, fmt.Errorf("no room for %d members in %d bytes", n, segmentBudget)
	}
	removeStaleSegments()
	var nonce [segNonceLen]byte
	_, _ = rand.Read(nonce[:])
	path := filepath.Join(shmDir, fmt.Sprintf("%s%d-%x", segPrefix, os.Getpid(), nonce[:8]))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &segment{n: n, rank: 0, data: data, area: area, path: path}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(s.size())); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("allocate %d bytes in %s: %w", s.size(), shmDir, err)
	}
	if err := s.mapFile(f); err != nil {
		_ = os.Remove(path)
		return nil, err
	}
	copy(s.mem, segMagic)
	copy(s.mem[len(segMagic):], nonce[:])
	return s, nil
}

// openSegment maps rank 0's segment as rank of n members, if it is there
// and holds nonce.
func openSegment(path string, nonce []byte, n, rank int) (*segment, error) {
	if filepath.Dir(path) != filepath.Clean(shmDir) || !strings.HasPrefix(filepath.Base(path), segPrefix) {
		return nil, fmt.Errorf("%s is not a segment", path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, area := segmentLayout(n, segmentBudget)
	s := &segment{n: n, rank: rank, data: data, area: area, path: path}
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(s.size()) {
		return nil, fmt.Errorf("%s is not the segment of a group of %d", path, n)
	}
	if err := s.mapFile(f); err != nil {
		return nil, err
	}
	if !s.checkNonce(nonce) {
		s.unmap()
		return nil, fmt.Errorf("%s is another segment", path)
	}
	return s, nil
}

func (s *segment) mapFile(f *os.File) error {
	mem, err := unix.Mmap(int(f.Fd()), 0, s.size(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map %s: %w", s.path, err)
	}
	s.mem = mem
	s.unmap = func() { _ = unix.Munmap(mem) }
	return nil
}

// removeSegmentFile takes the file's name away once every member has it
// mapped: the memory lives until the last member unmaps it, and nothing
// is left in /dev/shm when members die.
func (s *segment) removeSegmentFile() { _ = os.Remove(s.path) }

// removeStaleSegments removes the segments of rank-0 processes that died
// before every member had mapped theirs (the file names the process).
func removeStaleSegments() {
	ents, _ := os.ReadDir(shmDir)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), segPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(rest[:max(strings.IndexByte(rest, '-'), 0)])
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.Remove(filepath.Join(shmDir, e.Name()))
		}
	}
}

// The futex operations, without FUTEX_PRIVATE_FLAG: the waiters are in
// several processes.
const (
	futexOpWait = 0
	futexOpWake = 1
)

// futexWait sleeps while *addr is val, for at most d (shared futex: the
// word is in memory other processes map).
func futexWait(addr *uint32, val uint32, d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexOpWait, uintptr(val),
		uintptr(unsafe.Pointer(&ts)), 0, 0)
}

// futexWake wakes every waiter on addr, in any process.
func futexWake(addr *uint32) {
	_, _, _ = unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), futexOpWake, uintptr(1<<30), 0, 0, 0)
}
