//go:build !linux

package objectstore

import (
	"errors"
	"os"
)

const noFollow = 0

// mapSegmentFile: local transfer is Linux's (objects go through gRPC elsewhere).
func mapSegmentFile(*os.File, bool) ([]byte, error) {
	return nil, errors.New("local object transfer needs Linux")
}

func unmapSegment([]byte) {}

func processGone(int) bool { return false }
