package integration

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	trainmlp "github.com/goray-dev/goray/examples/train-mlp"
	stateapi "github.com/goray-dev/goray/runtime/state"
	"github.com/goray-dev/goray/runtime/train"
)

// examples/train-mlp on two workers on two nodes, one worker's process
// killed (SIGKILL) after the first checkpoint: the run resumes from the
// last checkpoint, reports every epoch once, and ends at the loss of the
// same run left alone.
func TestTrainWorkerKilled(t *testing.T) {
	ctx := context.Background()
	cfg := trainmlp.Config{Samples: 20_000, Hidden: 32, Epochs: 200, LearningRate: 1}
	scaling := train.ScalingConfig{NumWorkers: 2, PlacementStrategy: "STRICT_SPREAD"}
	run := func(name string) train.RunConfig {
		return train.RunConfig{StoragePath: t.TempDir(), Name: name, FailureConfig: train.FailureConfig{MaxFailures: 1}}
	}
	killedRun := run("killed")
	type outcome struct {
		res *train.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := train.Fit(ctx, trainmlp.Loop, cfg, scaling, killedRun)
		done <- outcome{res, err}
	}()
	first := filepath.Join(killedRun.StoragePath, killedRun.Name, "checkpoint_000000")
	awaitFor(t, 2*time.Minute, "the first checkpoint", func() bool { _, err := os.Stat(first); return err == nil })
	c, err := stateapi.New(dashboardAddress)
	if err != nil {
		t.Fatal(err)
	}
	actors, _, err := c.ListActors(ctx, stateapi.Options{Filters: []stateapi.Filter{{Key: "class_name", Predicate: "=", Value: "goray.train.Worker"},
		{Key: "state", Predicate: "=", Value: "ALIVE"}}})
	if err != nil || len(actors) != 2 || actors[1].PID == 0 {
		t.Fatalf("the workers: %v, %v", actors, err)
	}
	if err := syscall.Kill(actors[1].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var killed outcome
	select {
	case killed = <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("the run did not end")
	}
	if killed.err != nil {
		t.Fatal(killed.err)
	}
	if killed.res.Failures != 1 {
		t.Fatalf("%d failed attempts: the kill came after the run ended, make it longer", killed.res.Failures)
	}
	for i, m := range killed.res.MetricsHistory {
		if m["epoch"] != float64(i) {
			t.Fatalf("report %d is of epoch %v: the history has a gap or a repeat", i, m["epoch"])
		}
	}
	if len(killed.res.MetricsHistory) != cfg.Epochs {
		t.Fatalf("%d reports for %d epochs", len(killed.res.MetricsHistory), cfg.Epochs)
	}
	alone, err := train.Fit(ctx, trainmlp.Loop, cfg, scaling, run("alone"))
	if err != nil {
		t.Fatal(err)
	}
	if a, b := killed.res.Metrics["loss"], alone.Metrics["loss"]; math.Abs(a-b) > 1e-9*b {
		t.Fatalf("final loss %v after the kill, %v left alone", a, b)
	}
}
