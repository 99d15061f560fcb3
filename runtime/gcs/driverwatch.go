package gcs

import (
	"fmt"
	"time"
)

// A job ends when its driver calls ray.Shutdown (MarkJobFinished). A driver
// that is SIGKILLed, crashes, or returns from main without Shutdown ends
// nothing: its job would stay unfinished and its non-detached actors would
// live forever. In Ray the raylet sees the driver's connection close and the
// GCS marks the job dead. A goray driver holds no connection open to its
// node or to the GCS (it calls them when it needs to), so the GCS probes
// the driver of every unfinished job instead (drivers.go does the probing)
// and ends the job of one that is gone: its non-detached actors die
// (actors.Directory.DriverDied), its lightweight hosts and non-detached
// placement groups go as with MarkJobFinished. The nodes free the driver's
// leases and objects on their own (runtime/node/owners.go).
//
// The decision is here, as plain code on probe results and an injected
// clock. A false positive kills a live job's actors, so it asks for much:
//
//   - A refused connection (nothing listens at the driver's address) is the
//     evidence of a process gone: a driver that is slow — a long GC pause, a
//     machine busy swapping — still has its listening socket, and the kernel
//     accepts connections for it. It takes driverRefusedProbes consecutive
//     refusals spanning at least driverRefusedFor.
//   - No answer at all (timeouts: its host is gone or cut off, or the
//     driver is stuck) takes driverSilentFor of failed probes, at least
//     driverRefusedProbes of them, with no answer in between.
//   - A GCS restarted on its storage judges no driver for its first
//     driverRestoredGrace: the drivers of the jobs it loaded reconnect in
//     that window, and the serve controller, restarted with the head, takes
//     its job over again at a new address (AddJob with the job's id).
//
// Any answer, even an error from a live server (Unimplemented,
// Unauthenticated), counts as alive.

// driverProbe is what one probe of a driver found.
type driverProbe int

const (
	// driverAnswered: a server answered at the driver's address.
	driverAnswered driverProbe = iota
	// driverRefused: the connection was refused: nothing listens there.
	driverRefused
	// driverSilent: no answer (timeout, unreachable host).
	driverSilent
)

const (
	// driverProbeInterval is how often each unfinished job's driver is probed.
	driverProbeInterval = 2 * time.Second
	// driverProbeTimeout bounds one probe.
	driverProbeTimeout = 5 * time.Second
	// driverRefusedProbes consecutive refused probes, spanning at least
	// driverRefusedFor, make a driver dead (about 10 s at one probe every
	// 2 s): one refusal is near proof already; the run guards against a
	// listener being set up or torn down, and a flaky network.
	driverRefusedProbes = 5
	driverRefusedFor    = 10 * time.Second
	// driverSilentFor without any answer makes a driver dead, like a node
	// whose heartbeats stop, with margin for a driver that is alive but
	// stuck for a while.
	driverSilentFor = 60 * time.Second
	// driverRestoredGrace: a GCS that loaded unfinished jobs from its
	// storage judges no driver for this long after its start (the serve
	// controller's resume may take up to 2 minutes; see
	// runtime/serve/controller/resume.go).
	driverRestoredGrace = 2 * time.Minute
)

// driverTracker decides from probe results when a job's driver is dead.
type driverTracker struct {
	refusedProbes int
	refusedFor    time.Duration
	silentFor     time.Duration
	// quietUntil: no driver is judged before it (driverRestoredGrace
	// after the start of a GCS that loaded unfinished jobs).
	quietUntil time.Time
	drivers    map[string]*driverState // by job id
}

type driverState struct {
	addr         string    // the address probed: a job taken over by another driver starts over
	failingSince time.Time // the first failed probe of the current run
	failures     int       // failed probes in the run
	refused      int       // the run's last consecutive refusals
}

func newDriverTracker(quietUntil time.Time) *driverTracker {
	return &driverTracker{refusedProbes: driverRefusedProbes, refusedFor: driverRefusedFor, silentFor: driverSilentFor,
		quietUntil: quietUntil, drivers: map[string]*driverState{}}
}

// observe records probe r, made at now, of job's driver at addr, and says
// whether the driver is dead and why. A dead driver's job is forgotten.
func (t *driverTracker) observe(job, addr string, r driverProbe, now time.Time) (bool, string) {
	st := t.drivers[job]
	if r == driverAnswered || now.Before(t.quietUntil) {
		delete(t.drivers, job)
		return false, ""
	}
	if st == nil || st.addr != addr {
		st = &driverState{addr: addr, failingSince: now}
		t.drivers[job] = st
	}
	st.failures++
	if r == driverRefused {
		st.refused++
	} else {
		st.refused = 0
	}
	failing := now.Sub(st.failingSince)
	var why string
	switch {
	case st.refused >= t.refusedProbes && failing >= t.refusedFor:
		why = fmt.Sprintf("nothing listened at its address %s for %s (%d probes)", addr, failing.Round(time.Second), st.failures)
	case st.failures >= t.refusedProbes && failing >= t.silentFor:
		why = fmt.Sprintf("no answer from its address %s for %s (%d probes)", addr, failing.Round(time.Second), st.failures)
	default:
		return false, ""
	}
	delete(t.drivers, job)
	return true, why
}

// retain forgets the jobs that are no longer probed (finished, or without
// a driver address); jobs maps job id to driver address.
func (t *driverTracker) retain(jobs map[string]string) {
	for j := range t.drivers {
		if _, ok := jobs[j]; !ok {
			delete(t.drivers, j)
		}
	}
}
