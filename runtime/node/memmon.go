package node

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// The memory monitor (Ray's, in its raylet): every refresh interval the
// node reads its memory usage — its cgroup's when the cgroup has a limit
// below the machine's memory, as in a pod, else the machine's — and when
// the used fraction is at or over the threshold it kills one worker
// running a task or actor, then waits for that worker to exit before it
// kills another. The victim is the most recently granted lease whose task
// can be retried (max_retries ≠ 0, or an actor with restarts); only when
// none runs, the most recent of the others. The owner of the killed task
// asks the node why its worker died (GetWorkerFailureCause) and fails or
// retries the task with an OutOfMemoryError that carries the reason.
//
// RAY_memory_usage_threshold (default 0.95) and
// RAY_memory_monitor_refresh_ms (default 250; 0 turns the monitor off) are
// Ray's variables, read from the node's environment.

// Defaults of the memory monitor (Ray's).
const (
	defaultMemoryThreshold = 0.95
	defaultMemoryRefresh   = 250 * time.Millisecond
	// memoryKillWait bounds the wait for a killed worker to exit before
	// the monitor may choose another (a process stuck in the kernel).
	memoryKillWait = 10 * time.Second
)

// memoryMonitorConfig reads Ray's variables: the threshold and the refresh
// interval (0: off).
func memoryMonitorConfig(getenv func(string) string) (threshold float64, refresh time.Duration, err error) {
	threshold, refresh = defaultMemoryThreshold, defaultMemoryRefresh
	if v := getenv("RAY_memory_usage_threshold"); v != "" {
		f, perr := strconv.ParseFloat(v, 64)
		if perr != nil || f <= 0 || f > 1 {
			return 0, 0, fmt.Errorf("RAY_memory_usage_threshold=%q: want a fraction in (0, 1]", v)
		}
		threshold = f
	}
	if v := getenv("RAY_memory_monitor_refresh_ms"); v != "" {
		ms, perr := strconv.Atoi(v)
		if perr != nil || ms < 0 {
			return 0, 0, fmt.Errorf("RAY_memory_monitor_refresh_ms=%q: want milliseconds, 0 to turn the monitor off", v)
		}
		refresh = time.Duration(ms) * time.Millisecond
	}
	return threshold, refresh, nil
}

// memCandidate is a leased worker the monitor may kill.
type memCandidate struct {
	workerID  string
	retriable bool
	actor     bool
	granted   time.Time
}

// pickVictim is the worker to kill: retriable ones first, the most
// recently granted first (ties by worker id, for a stable choice).
func pickVictim(cands []memCandidate) (memCandidate, bool) {
	if len(cands) == 0 {
		return memCandidate{}, false
	}
	best := slices.MinFunc(cands, func(a, b memCandidate) int {
		if a.retriable != b.retriable {
			if a.retriable {
				return -1
			}
			return 1
		}
		if c := b.granted.Compare(a.granted); c != 0 {
			return c
		}
		return cmp.Compare(a.workerID, b.workerID)
	})
	return best, true
}

// memoryMonitor decides, reading by reading, whether to kill a worker. It
// is pure state: the node feeds it readings, its candidates and the clock.
type memoryMonitor struct {
	threshold float64
	// killing is the worker killed last, until it exits (or memoryKillWait).
	killing  string
	killedAt time.Time
}

// step is one reading: the worker to kill now, if any. alive says whether
// a worker still runs.
func (m *memoryMonitor) step(now time.Time, u memoryUsage, cands []memCandidate, alive func(workerID string) bool) (memCandidate, bool) {
	if m.killing != "" {
		if alive(m.killing) && now.Sub(m.killedAt) < memoryKillWait {
			return memCandidate{}, false // one at a time: its memory is not back yet
		}
		m.killing = ""
	}
	if u.total == 0 || u.fraction() < m.threshold {
		return memCandidate{}, false
	}
	v, ok := pickVictim(cands)
	if !ok {
		return memCandidate{}, false
	}
	m.killing, m.killedAt = v.workerID, now
	return v, true
}

// oomReason is the killed worker's exit detail and its task's error text.
func oomReason(v memCandidate, u memoryUsage, threshold float64, nodeIP, nodeID string) string {
	which := "the most recently scheduled task or actor whose work can be retried"
	if !v.retriable {
		which = "the most recently scheduled task or actor (none that can be retried was running)"
	}
	return fmt.Sprintf("the worker was killed because the node was running low on memory. Memory on the node (IP: %s, ID: %s) was %s, "+
		"which exceeds the memory usage threshold of %.2f. goray killed this worker (ID: %s) because it was %s. "+
		"To avoid it: give the task or actor a memory resource (ray.Memory(bytes)) so fewer run at once on a node, "+
		"use nodes with more memory, or raise RAY_memory_usage_threshold on the nodes (RAY_memory_monitor_refresh_ms=0 turns the monitor off)",
		nodeIP, nodeID, u, threshold, v.workerID, which)
}

// memoryMonitorLoop runs the monitor until the node stops.
func (n *Node) memoryMonitorLoop(threshold float64, refresh time.Duration) {
	defer n.wg.Done()
	m := &memoryMonitor{threshold: threshold}
	t := time.NewTicker(refresh)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		u, err := readMemoryUsage()
		if err != nil {
			continue // no reading this time (a cgroup file gone mid-read)
		}
		n.mu.Lock()
		cands := n.memCandidatesLocked()
		v, ok := m.step(time.Now(), u, cands, func(id string) bool { _, ok := n.workers[id]; return ok })
		if ok {
			if w := n.workers[v.workerID]; w != nil {
				w.oomReason = oomReason(v, u, threshold, n.cfg.IP, n.id)
				n.log.Printf("memory monitor: %s", w.oomReason)
				n.killLocked(w)
			}
		}
		n.mu.Unlock()
	}
}

// memCandidatesLocked lists the workers holding leases.
func (n *Node) memCandidatesLocked() []memCandidate {
	var out []memCandidate
	for _, l := range n.leases {
		if l.w == nil || l.w.killed {
			continue
		}
		out = append(out, memCandidate{workerID: l.w.id, retriable: !l.notRetriable, actor: l.w.actorID != "", granted: l.granted})
	}
	return out
}

// workerFailureCause says why a worker ended, from the live worker (killed
// by the monitor, not yet reaped) or the exited ones the node remembers.
func (n *Node) workerFailureCause(id string) (exitType, detail string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if w, ok := n.workers[id]; ok {
		if w.oomReason != "" {
			return exitNodeOOM, w.oomReason
		}
		return "", ""
	}
	for _, st := range n.exited.ring {
		if st.WorkerId == id {
			return st.ExitType, st.ExitDetail
		}
	}
	return "", ""
}

// exitNodeOOM is Ray's exit type of a worker its node's memory monitor killed.
const exitNodeOOM = "NODE_OUT_OF_MEMORY"
