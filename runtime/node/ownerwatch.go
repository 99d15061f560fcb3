package node

import (
	"fmt"
	"time"
)

// An object in a node's store is freed by its owner (the driver or worker
// that created it) when the owner's last reference goes. An owner that
// exits or dies frees nothing, so the node watches the owners of the
// objects it holds and frees all of a dead owner's objects (Ray's raylet
// does the same on an owner's death). The decision is here, as plain
// code on probe results and an injected clock; owners.go does the probing.

// probeResult is what one probe of an owner found.
type probeResult int

const (
	// ownerAlive: the owner answered that it owns the object, or answered
	// something that does not tell (an older binary, an auth refusal).
	ownerAlive probeResult = iota
	// ownerReplaced: another process answers at the owner's address.
	ownerReplaced
	// ownerRefused: nothing listens at the owner's address (the connection
	// was refused): the process, whose server runs from its start to its
	// end, is gone.
	ownerRefused
	// ownerUnreachable: no answer (timeout, unreachable host): the owner
	// may be alive behind a slow or broken network.
	ownerUnreachable
)

func (r probeResult) String() string {
	switch r {
	case ownerAlive:
		return "alive"
	case ownerReplaced:
		return "another process answers at its address"
	case ownerRefused:
		return "nothing listens at its address"
	default:
		return "unreachable"
	}
}

const (
	// ownerProbeInterval is how often every owner with objects here is probed.
	ownerProbeInterval = time.Second
	// ownerProbeTimeout bounds one probe.
	ownerProbeTimeout = 2 * time.Second
	// ownerRefusedProbes consecutive refused probes (one interval apart)
	// make an owner dead: one refusal is proof enough on its own, the
	// second guards against a listener that was being set up or torn down.
	ownerRefusedProbes = 2
	// ownerUnreachableFor: an owner that gives no answer at all for this
	// long is dead (its host is gone or cut off), like a node whose
	// heartbeats stop.
	ownerUnreachableFor = 30 * time.Second
)

// ownerTracker decides from probe results when an owner is dead.
type ownerTracker struct {
	refusedProbes  int
	unreachableFor time.Duration
	owners         map[string]*ownerState
}

type ownerState struct {
	failingSince time.Time // first failed probe of the current run of failures
	refused      int       // consecutive refused probes
}

func newOwnerTracker() *ownerTracker {
	return &ownerTracker{refusedProbes: ownerRefusedProbes, unreachableFor: ownerUnreachableFor, owners: map[string]*ownerState{}}
}

// observe records a probe of owner at now and says whether the owner is
// dead, and why. A dead owner is forgotten (its objects are freed; a later
// object of the same address starts over).
func (t *ownerTracker) observe(owner string, r probeResult, now time.Time) (bool, string) {
	st := t.owners[owner]
	if r == ownerAlive {
		delete(t.owners, owner)
		return false, ""
	}
	if st == nil {
		st = &ownerState{failingSince: now}
		t.owners[owner] = st
	}
	if r == ownerRefused {
		st.refused++
	} else {
		st.refused = 0
	}
	var why string
	switch {
	case r == ownerReplaced:
		why = r.String()
	case st.refused >= t.refusedProbes:
		why = fmt.Sprintf("%s (%d probes)", r, st.refused)
	case now.Sub(st.failingSince) >= t.unreachableFor:
		why = fmt.Sprintf("no answer for %s", now.Sub(st.failingSince).Round(time.Second))
	default:
		return false, ""
	}
	delete(t.owners, owner)
	return true, why
}

// retain forgets owners that no longer have objects here.
func (t *ownerTracker) retain(owners map[string]string) {
	for o := range t.owners {
		if _, ok := owners[o]; !ok {
			delete(t.owners, o)
		}
	}
}
