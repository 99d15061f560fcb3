package train

import (
	"context"
	"errors"
	"testing"
)

// RunConfig.OnReport sees rank 0's reports in order and its error ends the
// run at once, without a retry; ResumeFromCheckpoint starts a run in a
// fresh directory from another run's checkpoint.
func TestOnReportAndResumeFromCheckpoint(t *testing.T) {
	cfg := lrConfig{Samples: 400, Features: 3, Epochs: 6, LearningRate: 2, FailRank: -1}
	scaling := ScalingConfig{NumWorkers: 2}
	enough := errors.New("enough")
	var seen []float64
	var third *Checkpoint
	res, err := Fit(context.Background(), lrLoop, cfg, scaling, RunConfig{StoragePath: t.TempDir(), Name: "a",
		FailureConfig: FailureConfig{MaxFailures: 3},
		OnReport: func(_ context.Context, m map[string]float64, ck *Checkpoint) error {
			seen = append(seen, m["epoch"])
			if ck == nil {
				return errors.New("no checkpoint with the report")
			}
			if len(seen) == 3 {
				third = ck
				return enough
			}
			return nil
		}})
	if !errors.Is(err, enough) || res.Failures != 0 {
		t.Fatalf("Fit: %v after %d failures; want the callback's error, no retry", err, res.Failures)
	}
	if len(seen) != 3 || seen[0] != 0 || seen[2] != 2 {
		t.Fatalf("reports seen: epochs %v", seen)
	}
	whole, err := Fit(context.Background(), lrLoop, cfg, scaling, RunConfig{StoragePath: t.TempDir(), Name: "whole"})
	if err != nil {
		t.Fatal(err)
	}
	rest, err := Fit(context.Background(), lrLoop, cfg, scaling, RunConfig{StoragePath: t.TempDir(), Name: "rest",
		ResumeFromCheckpoint: third})
	if err != nil {
		t.Fatal(err)
	}
	if len(rest.MetricsHistory) != 3 || rest.MetricsHistory[0]["epoch"] != 3 {
		t.Fatalf("the resumed run reported %v", rest.MetricsHistory)
	}
	if got, want := rest.Metrics["loss"], whole.Metrics["loss"]; got != want {
		t.Fatalf("resumed from epoch 2: final loss %v, the whole run's %v", got, want)
	}
}
