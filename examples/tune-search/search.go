// Package tunesearch is goray Tune's cluster example: a small seeded
// random search over a toy objective whose optimum is known, each trial
// on an actor of one CPU. On a cluster whose head advertises no CPUs (the
// RayJob sample config/samples/ray-job.tune-autoscaler.yaml) the trials
// stay pending until the autoscaler has added worker pods for them.
//
//	best, err := tunesearch.Run(ctx, os.Stdout, "/tmp/goray-tune", tunesearch.StepTime)
package tunesearch

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/goray-dev/goray/runtime/tune"
)

// The experiment's shape.
const (
	Trials     = 6
	Concurrent = 2
	Iterations = 10
	Seed       = 19
	// Optimum is the x of the objective's maximum.
	Optimum = 3.7
)

// StepTime is how long an iteration of a trial takes in the
// goray-examples command (a trial is Iterations steps).
const StepTime = 300 * time.Millisecond

// Score is the objective after iteration i of a trial with parameter x:
// it rises with the iterations towards −(x − Optimum)².
func Score(x float64, i int) float64 {
	d := x - Optimum
	return -d*d - 10/float64(i)
}

var objective = tune.Trainable("tunesearch.objective", func(ctx context.Context, tc *tune.Context, cfg tune.Config) error {
	x, step := cfg.Float("x"), time.Duration(cfg.Float("step_s")*float64(time.Second))
	for i := 1; i <= Iterations; i++ {
		select {
		case <-time.After(step):
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := tc.Report(ctx, map[string]float64{"score": Score(x, i)}, nil); err != nil {
			return err
		}
	}
	return nil
})

// Run runs the experiment (Trials trials of Iterations steps of step,
// Concurrent at once, each asking for one CPU) under storage, checks its results — every trial ended
// after Iterations results with the objective's value, and the best trial
// is the one whose x is nearest Optimum — and writes the trial table and
// the best trial's line to w.
func Run(ctx context.Context, w io.Writer, storage string, step time.Duration) (*tune.TrialResult, error) {
	start := time.Now()
	grid, err := tune.Fit(ctx, objective, tune.Space{"x": tune.Uniform(0, 10), "step_s": step.Seconds()},
		tune.TuneConfig{Metric: "score", Mode: "max", NumSamples: Trials, MaxConcurrentTrials: Concurrent, Seed: Seed,
			ResourcesPerTrial: map[string]float64{"CPU": 1}},
		tune.RunConfig{StoragePath: storage, Name: fmt.Sprintf("tune-search-%d", start.UnixNano())})
	if err != nil {
		return nil, err
	}
	grid.Table(w, Trials)
	if err := check(grid); err != nil {
		return nil, err
	}
	best, _ := grid.Best()
	fmt.Fprintf(w, "tune: best trial %s: x=%.4f score=%.4f after %d iterations (%d trials, all TERMINATED, %s)\n",
		best.ID, best.Config.Float("x"), best.Metrics["score"], int(best.Metrics["training_iteration"]), len(grid.Trials),
		time.Since(start).Round(time.Second))
	return best, nil
}

// check verifies the experiment's results against the objective.
func check(grid *tune.ResultGrid) error {
	if len(grid.Trials) != Trials {
		return fmt.Errorf("%d trials, want %d", len(grid.Trials), Trials)
	}
	var nearest *tune.TrialResult
	for _, tr := range grid.Trials {
		x := tr.Config.Float("x")
		if tr.Status != tune.Terminated || len(tr.History) != Iterations {
			return fmt.Errorf("trial %s (x=%v): status %s with %d results (%s), want %s with %d", tr.ID, x, tr.Status,
				len(tr.History), tr.Error, tune.Terminated, Iterations)
		}
		for i, r := range tr.History {
			if want := Score(x, i+1); math.Abs(r["score"]-want) > 1e-9 || int(r["training_iteration"]) != i+1 {
				return fmt.Errorf("trial %s result %d: %v, want score %v at iteration %d", tr.ID, i, r, want, i+1)
			}
		}
		if nearest == nil || math.Abs(x-Optimum) < math.Abs(nearest.Config.Float("x")-Optimum) {
			nearest = tr
		}
	}
	best, ok := grid.Best()
	if !ok || best != nearest {
		return fmt.Errorf("best trial %v is not the one nearest x=%v (%s)", best, Optimum, nearest.ID)
	}
	return nil
}
