package core

import (
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
)

// A worker process's Go scheduler is sized to what it runs, as Ray sizes a
// worker's OMP_NUM_THREADS: GOMAXPROCS = the CPUs of the lease its normal
// tasks run under (at least 1, at most the machine's default), and the
// default again when it hosts an actor. A 1-CPU task then does not spread
// over cores other tasks hold, and the hand-offs between the goroutines that
// receive, run and answer a task stay on one thread instead of waking
// sleeping ones (single_client_tasks_sync: +25% on a 2-CPU machine).
// Config.KeepGOMAXPROCS (a GOMAXPROCS set in the environment) turns it off.

// procsFor is the scheduler width for a lease of cpus on a machine whose
// default width is def.
func procsFor(cpus float64, def int) int {
	n := 1
	if cpus > 1 {
		n = int(math.Ceil(cpus))
	}
	return min(n, max(def, 1))
}

// sizeScheduler sizes this worker's scheduler for a lease of cpus (once per
// lease: the stream of a lease carries one shape).
func (w *Worker) sizeScheduler(cpus float64) {
	if w.isWork && !w.cfg.KeepGOMAXPROCS {
		setProcs(procsFor(cpus, w.defaultProcs))
	}
}

// defaultScheduler gives this worker the default width again (an actor's
// calls may run concurrently and use the machine's cores).
func (w *Worker) defaultScheduler() {
	if w.isWork && !w.cfg.KeepGOMAXPROCS {
		setProcs(w.defaultProcs)
	}
}

// setProcs changes GOMAXPROCS only when it differs: a change stops the world.
func setProcs(n int) {
	if runtime.GOMAXPROCS(0) != n {
		runtime.GOMAXPROCS(n)
	}
}

// setGPUs gives what this worker runs next the lease's GPU devices (Ray's
// GPU isolation): CUDA_VISIBLE_DEVICES names them, empty when the lease
// holds none on a node that has some. set is false on a node without GPUs:
// the variable stays as the worker got it.
func (w *Worker) setGPUs(set bool, ids []string) {
	if !set {
		return
	}
	_ = os.Setenv(cudaVisibleDevices, strings.Join(ids, ","))
	w.gpuIDs.Store(&ids)
}

// GPUIDs are the GPU devices the running task or actor holds (Ray's
// ray.get_gpu_ids): nil outside a worker, or when it holds none.
func (w *Worker) GPUIDs() []string {
	if p := w.gpuIDs.Load(); p != nil && len(*p) > 0 {
		return slices.Clone(*p)
	}
	return nil
}

const cudaVisibleDevices = "CUDA_VISIBLE_DEVICES"
