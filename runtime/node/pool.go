package node

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// defaultIdleWorkerTimeout is how long an idle worker is kept. Ray kills
// idle workers past a second, but only those beyond the node's CPU count;
// goray keeps every pool warm for a minute instead.
const defaultIdleWorkerTimeout = time.Minute

// idleWorkerTimeout reads Ray's RAY_idle_worker_killing_time_threshold_ms
// from the node's environment (unset or invalid: the default).
func idleWorkerTimeout(getenv func(string) string) time.Duration {
	if ms, err := strconv.Atoi(getenv("RAY_idle_worker_killing_time_threshold_ms")); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	return defaultIdleWorkerTimeout
}

// idlePool is the node's idle workers by pool (job, executable, runtime_env
// variables) and what it decided about pre-starting: pure bookkeeping, the
// clock passed in, so that its rules are tested by the scenarios in
// testdata/pool.txt; the node starts and kills the processes.
//
// Rules: a lease takes the most recently parked worker of its pool (the
// warmest); a worker idle longer than the timeout is reaped; the first
// lease of a pool without runtime_env variables pre-starts workers up to
// the node's CPUs, once (pools with variables start workers as asked).
//
// A reaped worker is asked to exit and may decline (node.go's retire): one
// that still owns objects others borrow goes back to its pool.
type idlePool struct {
	byKey      map[poolKey][]idleWorker
	prestarted map[poolKey]bool
}

type idleWorker struct {
	id    string
	since time.Time
}

func newIdlePool() *idlePool {
	return &idlePool{byKey: map[poolKey][]idleWorker{}, prestarted: map[poolKey]bool{}}
}

// park puts a worker in its pool.
func (p *idlePool) park(key poolKey, id string, now time.Time) {
	p.byKey[key] = append(p.byKey[key], idleWorker{id: id, since: now})
}

// pop takes the most recently parked worker of the pool.
func (p *idlePool) pop(key poolKey) (string, bool) {
	ws := p.byKey[key]
	if len(ws) == 0 {
		return "", false
	}
	w := ws[len(ws)-1]
	p.byKey[key] = ws[:len(ws)-1]
	return w.id, true
}

// remove takes a worker that exited out of its pool (if it was idle).
func (p *idlePool) remove(key poolKey, id string) {
	ws := p.byKey[key]
	keep := ws[:0]
	for _, w := range ws {
		if w.id != id {
			keep = append(keep, w)
		}
	}
	p.byKey[key] = keep
}

// reap takes out the workers idle for longer than timeout and returns them
// (to be killed).
func (p *idlePool) reap(now time.Time, timeout time.Duration) []string {
	var out []string
	for key, ws := range p.byKey {
		keep := ws[:0]
		for _, w := range ws {
			if now.Sub(w.since) > timeout {
				out = append(out, w.id)
				continue
			}
			keep = append(keep, w)
		}
		p.byKey[key] = keep
	}
	sort.Strings(out)
	return out
}

// firstLease says whether this lease of the pool pre-starts workers: the
// first of a pool without runtime_env variables.
func (p *idlePool) firstLease(key poolKey) bool {
	first := !p.prestarted[key] && key.env == ""
	p.prestarted[key] = true
	return first
}

// size is the number of idle workers.
func (p *idlePool) size() int {
	n := 0
	for _, ws := range p.byKey {
		n += len(ws)
	}
	return n
}

// String lists the pools (the scenarios' "show").
func (p *idlePool) String() string {
	keys := make([]poolKey, 0, len(p.byKey))
	for k, ws := range p.byKey {
		if len(ws) > 0 {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "pool job=%s hash=%s env=%q:", k.job, k.hash, k.env)
		for _, w := range p.byKey[k] {
			fmt.Fprintf(&b, " %s", w.id)
		}
		b.WriteByte('\n')
	}
	if b.Len() == 0 {
		return "empty"
	}
	return strings.TrimSpace(b.String())
}
