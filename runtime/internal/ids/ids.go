// Package ids makes the random identifiers of nodes, workers, tasks, actors,
// objects and placement groups.
package ids

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
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

// Return is the id of return i (> 0) of a task with several returns; return
// 0 is named by the task's id. Owner and executor derive it alike, so the
// spec need not list the ids.
func Return(taskID string, i int) string {
	return taskID + "r" + strconv.Itoa(i)
}

// Item is the id of item i (from 0) a generator task yields: the same in
// every attempt of the task, so a retry's items name the objects the
// consumer already holds refs to.
func Item(taskID string, i int64) string {
	return taskID + "g" + strconv.FormatInt(i, 10)
}

// Minted reports whether id was made by Seq in this process, or derived
// from such an id by Return or Item: the ids of the objects and tasks a
// process owns are, so an owner answers with it whether an object is still
// its own (a process at the same address after a restart has another
// prefix).
func Minted(id string) bool {
	n := len(prefix) + 16
	if len(id) < n || id[:len(prefix)] != prefix {
		return false
	}
	if len(id) == n {
		return true
	}
	// A derived id: 'r' or 'g', then a decimal index.
	if (id[n] != 'r' && id[n] != 'g') || len(id) == n+1 || len(id) > n+20 {
		return false
	}
	for _, c := range id[n+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
