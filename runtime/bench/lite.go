package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

var actorPid = ray.Method0(benchActor, "pid", func(s *actorState, ctx context.Context) (int, error) { return os.Getpid(), nil })

// treeRSS is the resident memory of this process and every process under
// it (the embedded cluster's node manager, GCS and workers), and how many
// processes that is.
func treeRSS() (uint64, int) {
	var total uint64
	ps := treeProcs()
	for _, p := range ps {
		total += processRSS(p)
	}
	return total, len(ps)
}

// creators is how many goroutines create actors at once (each creation
// waits for the GCS to register the actor).
const creators = 32

// liteActors10k creates 10,000 lightweight actors on the one node (Ray's
// many_actors release test creates its actors the same way, all at once):
// the creation rate — from the first Remote to the last actor answering a
// first call, so every constructor ran and every actor is reachable — the
// memory of the processes involved, and the call throughput of a
// lightweight actor against a process actor's, alternating in one run.
func liteActors10k(ctx context.Context, out io.Writer, scale float64) error {
	n := scaled(10_000, scale)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	// The host worker first: its process start is once per node and job.
	first, err := benchActor.Remote(ctx, ray.Lightweight())
	if err != nil {
		return err
	}
	hostPid, err := ray.Get(ctx, actorPid.Remote(ctx, first))
	if err != nil {
		return err
	}
	proc, err := benchActor.Remote(ctx, ray.NumCPUs(0))
	if err != nil {
		return err
	}
	procPid, err := ray.Get(ctx, actorPid.Remote(ctx, proc))
	if err != nil {
		return err
	}
	// One caller creating one after another, as a plain loop does: each
	// Remote waits for the GCS to register its actor.
	seq := make([]ray.ActorHandle[actorState], scaled(1000, scale))
	ts := time.Now()
	for i := range seq {
		if seq[i], err = benchActor.Remote(ctx, ray.Lightweight()); err != nil {
			return err
		}
	}
	seqRegistered := time.Since(ts)
	seqAlive, err := waitAlive(ctx, seq, ts)
	if err != nil {
		return err
	}
	for _, h := range seq {
		_ = ray.Kill(ctx, h, true)
	}
	fmt.Fprintf(out, "%-36s %14.0f actors/s  (%d lightweight actors created one after another by one goroutine: registered in %.2f s, ALIVE in %.2f s)\n",
		"lightweight_actors_created_1_caller", float64(len(seq))/seqAlive.Seconds(), len(seq), seqRegistered.Seconds(), seqAlive.Seconds())
	rss0, procs0 := treeRSS()
	host0 := processRSS(hostPid)

	hs := make([]ray.ActorHandle[actorState], n)
	t0 := time.Now()
	err = inParallel(creators, n, func(i int) error {
		h, err := benchActor.Remote(ctx, ray.Lightweight())
		hs[i] = h
		return err
	})
	if err != nil {
		return fmt.Errorf("create lightweight actors: %w", err)
	}
	registered := time.Since(t0)
	aliveAt, err := waitAlive(ctx, hs, t0)
	if err != nil {
		return err
	}
	// Memory with every instance constructed but none called yet (no
	// caller's stream to any of them).
	hostIdle := processRSS(hostPid)
	// A first call to each, all in flight at once: answered once its
	// constructor ran.
	refs := make([]ray.Ref[int], n)
	for i, h := range hs {
		refs[i] = actorNoop.Remote(ctx, h, i)
	}
	for i := 0; i < n; i += 1000 {
		if _, err := ray.GetAll(ctx, refs[i:min(n, i+1000)]...); err != nil {
			return err
		}
	}
	alive := time.Since(t0)
	for _, r := range refs {
		r.Release()
	}
	pids := map[int]bool{}
	for _, i := range []int{0, n / 2, n - 1} {
		p, err := ray.Get(ctx, actorPid.Remote(ctx, hs[i]))
		if err != nil {
			return err
		}
		pids[p] = true
	}
	if len(pids) != 1 || !pids[hostPid] {
		return fmt.Errorf("lightweight actors in processes %v, want all in the host %d", pids, hostPid)
	}
	rss1, procs1 := treeRSS()
	host1 := processRSS(hostPid)
	fmt.Fprintf(out, "%-36s %14.0f actors/s  (%d lightweight actors on one node from %d goroutines: registered in %.2f s, ALIVE in %.2f s; each answering a first call %.2f s after the first Remote: %.0f actors/s)\n",
		"lightweight_actors_created", float64(n)/aliveAt.Seconds(), n, creators, registered.Seconds(), aliveAt.Seconds(), alive.Seconds(), float64(n)/alive.Seconds())
	kb := func(after, before uint64) float64 { return float64(after-min(before, after)) / float64(n) / 1e3 }
	fmt.Fprintf(out, "%-36s %14.0f MB  (driver+GCS+node process and workers, %d processes; was %.0f MB in %d before the %d actors: %.1f KB an actor; the host worker %.0f MB, was %.0f MB: %.1f KB an instance, %.1f KB before any was called; a process actor's worker %.0f MB)\n",
		"lightweight_actors_rss", float64(rss1)/1e6, procs1, float64(rss0)/1e6, procs0, n, kb(rss1, rss0),
		float64(host1)/1e6, float64(host0)/1e6, kb(host1, host0), kb(hostIdle, host0), float64(processRSS(procPid))/1e6)

	// Calls: one lightweight actor among the 10,000 against a process
	// actor, alternating.
	const rounds, calls = 15, 20_000
	throughput := func(h ray.ActorHandle[actorState]) (float64, error) {
		refs := make([]ray.Ref[int], calls)
		t := time.Now()
		for i := range refs {
			refs[i] = actorNoop.Remote(ctx, h, i)
		}
		if _, err := ray.GetAll(ctx, refs...); err != nil {
			return 0, err
		}
		return float64(calls) / time.Since(t).Seconds(), nil
	}
	sync1 := func(h ray.ActorHandle[actorState]) (float64, error) {
		const k = 2000
		t := time.Now()
		for i := range k {
			if _, err := ray.Get(ctx, actorNoop.Remote(ctx, h, i)); err != nil {
				return 0, err
			}
		}
		return k / time.Since(t).Seconds(), nil
	}
	target := hs[n/2]
	type side struct {
		h           ray.ActorHandle[actorState]
		pid         int
		async, sync []float64
		cpu         []float64 // µs of CPU a call, the driver's process and the actor's
		actorCPU    []float64 // the actor's process's alone
	}
	lite, pa := &side{h: target, pid: hostPid}, &side{h: proc, pid: procPid}
	self := os.Getpid()
	var asyncRatios, syncRatios, cpuRatios []float64
	for round := range rounds {
		order := []*side{lite, pa}
		if round%2 == 1 {
			order = []*side{pa, lite} // neither always goes first
		}
		for _, m := range order {
			// The driver's heap (10,000 handles) is collected before, not
			// in, a measured part.
			runtime.GC()
			a0 := processCPU(m.pid)
			c0 := processCPU(self) + a0
			r, err := throughput(m.h)
			if err != nil {
				return err
			}
			a1 := processCPU(m.pid)
			m.cpu = append(m.cpu, (processCPU(self)+a1-c0)/float64(calls)*1e6)
			m.actorCPU = append(m.actorCPU, (a1-a0)/float64(calls)*1e6)
			m.async = append(m.async, r)
			s, err := sync1(m.h)
			if err != nil {
				return err
			}
			m.sync = append(m.sync, s)
		}
		asyncRatios = append(asyncRatios, lite.async[round]/pa.async[round])
		syncRatios = append(syncRatios, lite.sync[round]/pa.sync[round])
		cpuRatios = append(cpuRatios, lite.cpu[round]/pa.cpu[round])
	}
	med := func(xs []float64) float64 { xs = slices.Clone(xs); slices.Sort(xs); return xs[len(xs)/2] }
	list := func(xs []float64) string {
		var b strings.Builder
		for i, x := range xs {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%.2f", x)
		}
		return b.String()
	}
	fmt.Fprintf(out, "%-36s %14.0f calls/s  (process actor %.0f; lightweight/process %.2f, the median of the rounds' ratios [%s]; %d alternating rounds of %d async calls)\n",
		"lightweight_actor_calls_async", med(lite.async), med(pa.async), med(asyncRatios), list(asyncRatios), rounds, calls)
	fmt.Fprintf(out, "%-36s %14.0f calls/s  (process actor %.0f; lightweight/process %.2f, the median of the rounds' ratios [%s]; %d alternating rounds of 2000 sync calls)\n",
		"lightweight_actor_calls_sync", med(lite.sync), med(pa.sync), med(syncRatios), list(syncRatios), rounds)
	fmt.Fprintf(out, "%-36s %14.1f µs CPU/call  (process actor %.1f; lightweight/process %.2f, the median of the rounds' ratios [%s]; the async calls' CPU time in the driver's process and the actor's)\n",
		"lightweight_actor_calls_cpu", med(lite.cpu), med(pa.cpu), med(cpuRatios), list(cpuRatios))
	fmt.Fprintf(out, "  of which in the actor's process: lightweight [%s] µs, process [%s] µs\n", list(lite.actorCPU), list(pa.actorCPU))

	// Gone again: killing them is creation's cost in reverse.
	t1 := time.Now()
	_ = inParallel(creators, n, func(i int) error {
		_ = ray.Kill(ctx, hs[i], true)
		return nil
	})
	_ = ray.Kill(ctx, first, true)
	_ = ray.Kill(ctx, proc, true)
	fmt.Fprintf(out, "  killed the %d lightweight actors in %.2f s\n", n, time.Since(t1).Seconds())
	return nil
}

// waitAlive polls the GCS until every actor of hs is ALIVE, returning
// when that was, from t0.
func waitAlive(ctx context.Context, hs []ray.ActorHandle[actorState], t0 time.Time) (time.Duration, error) {
	conn, err := grpc.NewClient(ray.GCSAddress(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	want := make(map[string]bool, len(hs))
	for _, h := range hs {
		want[h.ID] = true
	}
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		l, err := rpcpb.NewGcsClient(conn).ListActors(ctx, &rpcpb.Empty{})
		if err != nil {
			return 0, err
		}
		at := time.Since(t0)
		alive := 0
		for _, a := range l.Actors {
			if want[a.ActorId] && a.State == rpcpb.ActorState_ALIVE {
				alive++
			}
		}
		if alive == len(hs) {
			return at, nil
		}
	}
	return 0, fmt.Errorf("the %d actors were not all ALIVE within 5 minutes", len(hs))
}

// inParallel calls fn for 0 ≤ i < n from workers goroutines, each taking
// the next index; the first error stops them (the indices not yet taken are
// skipped) and is returned.
func inParallel(workers, n int, fn func(i int) error) error {
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					if failed.CompareAndSwap(false, true) {
						errs <- err
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}
