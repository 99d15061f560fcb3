package actors

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// An actor's concurrency groups (Ray's concurrency_groups) are named
// groups of its calls, each running up to its own number of calls at once
// besides the default group (max_concurrency); the core worker that hosts
// the actor runs them (core/groups.go). The GCS checks them when the
// actor is created.

const (
	// MaxConcurrencyGroups is the most groups an actor has; maxGroupConcurrency
	// and maxGroupNameBytes bound each.
	MaxConcurrencyGroups = 64
	maxGroupConcurrency  = 10000
	maxGroupNameBytes    = 128
)

// ValidateConcurrencyGroups checks an actor's groups: named, each running
// 1 to 10,000 calls at once, at most 64 of them.
func ValidateConcurrencyGroups(groups map[string]int32) error {
	if len(groups) > MaxConcurrencyGroups {
		return fmt.Errorf("concurrency_groups: %d groups, more than the limit of %d", len(groups), MaxConcurrencyGroups)
	}
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		n := groups[name]
		switch {
		case name == "" || len(name) > maxGroupNameBytes || strings.ContainsRune(name, 0):
			return fmt.Errorf("concurrency_groups: a group name must be 1 to %d bytes without NUL, got %q", maxGroupNameBytes, name)
		case n < 1 || n > maxGroupConcurrency:
			return fmt.Errorf("concurrency_groups[%s] = %d: a group runs 1 to %d calls at once", name, n, maxGroupConcurrency)
		}
	}
	return nil
}
