package objectstore

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

const noFollow = syscall.O_NOFOLLOW

// mapSegmentFile maps a segment file shared, read and write; create first
// sizes it. Its memory is not allocated ahead: a page is when first
// written, so a segment costs what the largest object through it needed,
// and a write that finds /dev/shm full faults (SafeCopy makes that an
// error).
func mapSegmentFile(f *os.File, create bool) ([]byte, error) {
	if create {
		if err := f.Truncate(SegmentSize); err != nil {
			return nil, fmt.Errorf("size transfer segment: %w", err)
		}
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, SegmentSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map transfer segment: %w", err)
	}
	return b, nil
}

func unmapSegment(b []byte) { _ = syscall.Munmap(b) }

// processGone reports whether no process has the pid.
func processGone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }
