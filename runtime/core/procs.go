package core

import (
	"math"
	"os"
	"runtime"
	"sync"
)

// A worker process's Go scheduler is sized to what it runs, as Ray sizes a
// worker's OMP_NUM_THREADS: GOMAXPROCS = the CPUs of the lease its normal
// tasks run under (at least 1, at most the machine's default), and the
// default again when it hosts an actor. A 1-CPU task then does not spread
// over cores other tasks hold, and the hand-offs between the goroutines that
// receive, run and answer a task stay on one thread instead of waking
// sleeping ones (single_client_tasks_sync: +25% on a 2-CPU machine). A
// GOMAXPROCS set in the environment is left alone.

var procs struct {
	sync.Mutex
	userSet bool // GOMAXPROCS was set in the environment
	def     int  // the runtime's default
	init    bool
}

// procsFor is the scheduler width for a lease of cpus on a machine whose
// default width is def.
func procsFor(cpus float64, def int) int {
	n := 1
	if cpus > 1 {
		n = int(math.Ceil(cpus))
	}
	return min(n, max(def, 1))
}

func initProcs() {
	if !procs.init {
		procs.init = true
		procs.userSet = os.Getenv("GOMAXPROCS") != ""
		procs.def = runtime.GOMAXPROCS(0)
	}
}

// sizeScheduler sizes this worker's scheduler for a lease of cpus.
func sizeScheduler(cpus float64) {
	procs.Lock()
	defer procs.Unlock()
	initProcs()
	if procs.userSet {
		return
	}
	if n := procsFor(cpus, procs.def); runtime.GOMAXPROCS(0) != n {
		runtime.GOMAXPROCS(n)
	}
}

// defaultScheduler gives this worker the default width again (an actor's
// calls may run concurrently and use the machine's cores).
func defaultScheduler() {
	procs.Lock()
	defer procs.Unlock()
	initProcs()
	if !procs.userSet && runtime.GOMAXPROCS(0) != procs.def {
		runtime.GOMAXPROCS(procs.def)
	}
}
