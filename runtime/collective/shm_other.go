//go:build !linux

package collective

import (
	"errors"
	"time"
)

// Shared memory between members is Linux's here (tmpfs and futexes);
// elsewhere every group uses the ring.

var errNoSegments = errors.New("shared-memory segments are Linux-only")

func createSegment(n int) (*segment, error) { return nil, errNoSegments }

func openSegment(path string, nonce []byte, n, rank int) (*segment, error) { return nil, errNoSegments }

func (s *segment) removeSegmentFile() {}

func futexWait(addr *uint32, val uint32, d time.Duration) { time.Sleep(time.Millisecond) }

func futexWake(addr *uint32) {}
