package train

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// ScalingConfig is how many workers run the loop and on what.
type ScalingConfig struct {
	// NumWorkers is the number of workers (and the collective group's size).
	NumWorkers int
	// ResourcesPerWorker is each worker's bundle ({"CPU": 1} if empty).
	ResourcesPerWorker map[string]float64
	// PlacementStrategy places the workers' bundles: PACK (the default),
	// SPREAD, STRICT_PACK or STRICT_SPREAD.
	PlacementStrategy string
}

// FailureConfig says how many failed attempts a run survives (Ray's
// max_failures; -1: any number).
type FailureConfig struct {
	MaxFailures int
}

// CheckpointConfig is which checkpoints a run keeps.
type CheckpointConfig struct {
	// NumToKeep keeps that many (0: all). With ScoreAttribute, the best by
	// that metric; else the latest. The latest is always kept too, as a
	// run resumes from it.
	NumToKeep int
	// ScoreAttribute is the reported metric that ranks checkpoints.
	ScoreAttribute string
	// ScoreOrder is "max" (the default) or "min".
	ScoreOrder string
}

// RunConfig is where a run keeps its results and how it survives failures.
type RunConfig struct {
	// StoragePath is the directory (a local or mounted volume, seen by
	// every worker) under which the run's directory Name is made.
	StoragePath string
	// Name is the run's directory (the loop's name and a time if empty).
	Name             string
	FailureConfig    FailureConfig
	CheckpointConfig CheckpointConfig
	// PollInterval is how often the trainer collects reports (100 ms if 0).
	PollInterval time.Duration
	// ResumeFromCheckpoint is where a run whose directory has no
	// checkpoint of its own starts (Ray's resume_from_checkpoint): the
	// workers get it as tc.Checkpoint(). Nil: from the start.
	ResumeFromCheckpoint *Checkpoint
	// OnReport, if set, is called in the process running Fit with each of
	// rank 0's reports, in order, as the trainer collects them (a Tune
	// trial passes them on to its tuner this way). An error from it ends
	// the run at once: Fit stops the workers and returns that error,
	// without retrying.
	OnReport func(ctx context.Context, metrics map[string]float64, ck *Checkpoint) error
}

// Result is what a run ended with.
type Result struct {
	// Metrics is the last report of rank 0.
	Metrics map[string]float64
	// Checkpoint is the latest checkpoint (nil if none was reported).
	Checkpoint *Checkpoint
	// BestCheckpoints are the kept checkpoints, best first by the score
	// attribute (latest first without one).
	BestCheckpoints []*Checkpoint
	// MetricsHistory is every report of rank 0, oldest first.
	MetricsHistory []map[string]float64
	// Path is the run's directory.
	Path string
	// Failures is how many attempts failed before the last one.
	Failures int
	// Error is why the run failed (nil when it finished); Fit returns it too.
	Error error
}

func (s *ScalingConfig) check() error {
	if s.NumWorkers < 1 {
		return fmt.Errorf("train: ScalingConfig.NumWorkers must be at least 1, not %d", s.NumWorkers)
	}
	if len(s.ResourcesPerWorker) == 0 {
		s.ResourcesPerWorker = map[string]float64{"CPU": 1}
	}
	switch s.PlacementStrategy {
	case "":
		s.PlacementStrategy = "PACK"
	case "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD":
	default:
		return fmt.Errorf("train: placement strategy %q: want PACK, SPREAD, STRICT_PACK or STRICT_SPREAD", s.PlacementStrategy)
	}
	return nil
}

func (r *RunConfig) check(loop string, now time.Time) error {
	if r.StoragePath == "" {
		return errors.New("train: RunConfig.StoragePath is required (a directory every worker sees)")
	}
	if r.Name == "" {
		r.Name = loop + "_" + now.UTC().Format("2006-01-02_15-04-05")
	}
	if r.Name != filepath.Base(r.Name) || r.Name == "." || r.Name == ".." {
		return fmt.Errorf("train: RunConfig.Name %q must be one directory name", r.Name)
	}
	switch r.CheckpointConfig.ScoreOrder {
	case "":
		r.CheckpointConfig.ScoreOrder = "max"
	case "max", "min":
	default:
		return fmt.Errorf("train: CheckpointConfig.ScoreOrder %q: want max or min", r.CheckpointConfig.ScoreOrder)
	}
	if r.PollInterval <= 0 {
		r.PollInterval = 100 * time.Millisecond
	}
	return nil
}
