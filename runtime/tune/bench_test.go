package tune

import (
	"context"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// sleeper is the overhead benchmark's trainable: it sleeps sleep_ms, then
// reports once (Ray's scalability test trains for a fixed time).
var sleeper = Trainable("test.sleeper", func(ctx context.Context, tc *Context, cfg Config) error {
	reports := max(cfg.Int("reports"), 1)
	for range reports {
		time.Sleep(time.Duration(cfg.Float("sleep_ms")/float64(reports)) * time.Millisecond)
		if err := tc.Report(ctx, map[string]float64{"x": cfg.Float("x")}, nil); err != nil {
			return err
		}
	}
	return nil
})

// TestTuneOverhead (GORAY_TUNE_BENCH=1) is issue 19's overhead benchmark,
// after Ray Tune's scalability page: N trials of 50 ms on the cluster's
// CPUs (the embedded cluster's 4 by default, GORAY_TUNE_BENCH_CPUS), the
// experiment's time against the minimum N × 50 ms / CPUs; then trials
// reporting 10 results a second each, results processed per second.
//
//	GORAY_TUNE_BENCH=1 go test -run TestTuneOverhead -v ./runtime/tune/
func TestTuneOverhead(t *testing.T) {
	if os.Getenv("GORAY_TUNE_BENCH") == "" {
		t.Skip("GORAY_TUNE_BENCH=1 runs it")
	}
	n, _ := strconv.Atoi(os.Getenv("GORAY_TUNE_BENCH_TRIALS"))
	if n <= 0 {
		n = 2000
	}
	cpus := clusterCPUs(context.Background())
	overhead := func(n int) float64 {
		space := Space{"x": Uniform(0, 1), "sleep_ms": 50.0}
		t0 := time.Now()
		grid, err := Fit(context.Background(), sleeper, space, TuneConfig{Metric: "x", NumSamples: n},
			RunConfig{StoragePath: t.TempDir(), Name: "overhead"})
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(t0)
		minimum := time.Duration(n) * 50 * time.Millisecond / time.Duration(cpus)
		for _, tr := range grid.Trials {
			if tr.Status != Terminated {
				t.Fatalf("%s: %s %s", tr.ID, tr.Status, tr.Error)
			}
		}
		t.Logf("%d trials of 50 ms on %d CPUs (pipelined %v): %.2f s against a minimum of %.2f s: %.1f%% overhead",
			n, cpus, !noPipeline, took.Seconds(), minimum.Seconds(), 100*(took.Seconds()/minimum.Seconds()-1))
		return took.Seconds()/minimum.Seconds() - 1
	}
	// floor is the machine's own lateness: n sleeps of 50 ms in as many
	// goroutines as CPUs, against the same minimum (a loaded machine
	// wakes sleepers late, with or without a tuner).
	floor := func(n int) float64 {
		t0 := time.Now()
		var wg sync.WaitGroup
		for c := range cpus {
			wg.Go(func() {
				for i := c; i < n; i += cpus {
					time.Sleep(50 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		minimum := time.Duration(n) * 50 * time.Millisecond / time.Duration(cpus)
		f := time.Since(t0).Seconds()/minimum.Seconds() - 1
		t.Logf("%d plain sleeps of 50 ms, %d at a time: %.1f%% over the minimum", n, cpus, 100*f)
		return f
	}
	// GORAY_TUNE_BENCH_ALTERNATE=k: k rounds of n trials pipelined (the
	// next trial queued on busy runners, Report not waiting under FIFO)
	// and not, and of plain sleeps, alternating, so that the machine's
	// load hits all alike.
	if k, _ := strconv.Atoi(os.Getenv("GORAY_TUNE_BENCH_ALTERNATE")); k > 0 {
		defer func() { noPipeline = false }()
		var on, off, fl []float64
		for range k {
			noPipeline = false
			on = append(on, overhead(n))
			noPipeline = true
			off = append(off, overhead(n))
			fl = append(fl, floor(n))
		}
		t.Logf("median overhead pipelined %.1f%% (rounds %.3f), not pipelined %.1f%% (rounds %.3f); plain sleeps %.1f%% (rounds %.3f)",
			100*median(on), on, 100*median(off), off, 100*median(fl), fl)
	} else {
		overhead(n)
	}

	// Results processed per second: 40 trials at once (a tenth of a CPU
	// each), each reporting 10 results a second for 3 s; Report not
	// waiting (FIFO), then waiting for each decision.
	for _, off := range []bool{false, true} {
		noPipeline = off
		trials := 40
		t0 := time.Now()
		grid, err := Fit(context.Background(), sleeper, Space{"x": Uniform(0, 1), "sleep_ms": 3000.0, "reports": 30},
			TuneConfig{Metric: "x", NumSamples: trials, MaxConcurrentTrials: trials, ResourcesPerTrial: map[string]float64{"CPU": 0.1}},
			RunConfig{StoragePath: t.TempDir(), Name: "results"})
		if err != nil {
			t.Fatal(err)
		}
		results := 0
		for _, tr := range grid.Trials {
			results += len(tr.History)
		}
		took := time.Since(t0)
		t.Logf("%d trials at once reporting 10 results/s each for 3 s (Report waiting for the tuner: %v): %d results in %.2f s (%.0f results/s; the trials' own pace allows %d/s)",
			trials, off, results, took.Seconds(), float64(results)/took.Seconds(), 10*trials)
	}
	noPipeline = false
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
