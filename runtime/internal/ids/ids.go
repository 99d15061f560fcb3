// Package ids makes the random identifiers of nodes, workers, tasks, actors,
// objects and placement groups.
package ids

import (
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
)

var prefix = func() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

var counter atomic.Uint64

// New returns a 28-hex-digit random id.
func New() string {
	var b [14]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Seq returns an id unique to this process and run, cheaper than New: a random
// per-process prefix and a counter.
func Seq() string {
	n := counter.Add(1)
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = "0123456789abcdef"[n&15]
		n >>= 4
	}
	return prefix + string(b[:])
}

// Minted reports whether id was made by Seq in this process: the ids of the
// objects and tasks a process owns are, so an owner answers with it whether
// an object is still its own (a process at the same address after a restart
// has another prefix).
func Minted(id string) bool {
	return len(id) == len(prefix)+16 && id[:len(prefix)] == prefix
}
