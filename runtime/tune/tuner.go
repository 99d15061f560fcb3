package tune

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// TuneConfig is how the search runs (Ray's TuneConfig).
type TuneConfig struct {
	// Metric and Mode ("max" or "min") are what the scheduler and Best go by.
	Metric, Mode string
	// NumSamples is how many times the space is sampled (1 if 0); with
	// grids, each sample covers every grid point.
	NumSamples int
	// MaxConcurrentTrials is how many trials run at once (the cluster's
	// CPUs if 0).
	MaxConcurrentTrials int
	// TimeBudget ends the experiment: no trial starts after it and running
	// ones are stopped (none if 0).
	TimeBudget time.Duration
	// Scheduler decides which trials go on (FIFO if nil).
	Scheduler Scheduler
	// SearchAlg suggests each trial's config from the results of the
	// trials that ended (Ray's search_alg, e.g. &tune.TPE{Seed: 1}); nil:
	// the space's grids expanded and its domains drawn at random, every
	// trial's config made up front. With a searcher, NumSamples is the
	// number of trials in all.
	SearchAlg Searcher
	// Seed makes the configs reproducible (and Restore draw the same ones).
	Seed uint64
	// ResourcesPerTrial is each trial actor's ({"CPU": 1} if empty).
	ResourcesPerTrial map[string]float64
}

// RunConfig is where the experiment's state and results go.
type RunConfig struct {
	StoragePath, Name string
	// Stop ends a trial when a result's metric reaches the value (e.g.
	// {"training_iteration": 20}).
	Stop map[string]float64
	// Progress gets a table of the trials every few seconds (nil: none;
	// `goray` commands pass the terminal).
	Progress io.Writer
}

// Trial statuses, Ray's names.
const (
	Pending    = "PENDING"
	Running    = "RUNNING"
	Paused     = "PAUSED"
	Terminated = "TERMINATED"
	Errored    = "ERROR"
)

// TrialResult is one trial as the experiment ended.
type TrialResult struct {
	ID      string               `json:"id"`
	Config  Config               `json:"config"`
	Status  string               `json:"status"`
	Metrics map[string]float64   `json:"metrics,omitempty"` // the last result
	History []map[string]float64 `json:"history,omitempty"`
	Error   string               `json:"error,omitempty"`
	Stopped bool                 `json:"stopped,omitempty"` // by the scheduler, a stop criterion or the budget
	// Checkpoint is the trial's latest (a restored trial starts from it).
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
}

// experiment is the state saved at every trial event.
type experiment struct {
	Name      string         `json:"name"`
	Trainable string         `json:"trainable"`
	Metric    string         `json:"metric"`
	Mode      string         `json:"mode"`
	Trials    []*TrialResult `json:"trials"`
}

const stateFile = "experiment_state.json"

// Fit runs the search and returns its trials; the error is the
// experiment's own (not a trial's: those are in the results).
func Fit(ctx context.Context, t *TrainableDef, space Space, tc TuneConfig, rc RunConfig) (*ResultGrid, error) {
	return run(ctx, t, space, tc, rc, nil)
}

// Restore finishes the experiment saved at path (StoragePath/Name): the
// trials that ended are kept as they were, the others run again with the
// configs they had. space and tc must be those it was started with.
func Restore(ctx context.Context, path string, t *TrainableDef, space Space, tc TuneConfig, rc RunConfig) (*ResultGrid, error) {
	b, err := os.ReadFile(filepath.Join(path, stateFile))
	if err != nil {
		return nil, fmt.Errorf("tune: restore %s: %w", path, err)
	}
	var exp experiment
	if err := json.Unmarshal(b, &exp); err != nil {
		return nil, fmt.Errorf("tune: restore %s: %w", path, err)
	}
	if exp.Trainable != t.name {
		return nil, fmt.Errorf("tune: %s is an experiment of trainable %q, not %q", path, exp.Trainable, t.name)
	}
	rc.StoragePath, rc.Name = filepath.Dir(path), filepath.Base(path)
	return run(ctx, t, space, tc, rc, &exp)
}

func run(ctx context.Context, t *TrainableDef, space Space, tc TuneConfig, rc RunConfig, restored *experiment) (*ResultGrid, error) {
	if _, ok := lookupTrainable(t.name); !ok {
		return nil, fmt.Errorf("tune: trainable %q is not registered", t.name)
	}
	if tc.Mode == "" {
		tc.Mode = "max"
	}
	if tc.Mode != "max" && tc.Mode != "min" {
		return nil, fmt.Errorf("tune: mode %q: want max or min", tc.Mode)
	}
	if tc.Metric == "" {
		return nil, errors.New("tune: TuneConfig.Metric is required")
	}
	if rc.StoragePath == "" || rc.Name == "" || rc.Name != filepath.Base(rc.Name) {
		return nil, errors.New("tune: RunConfig.StoragePath and Name (one directory name) are required")
	}
	if tc.SearchAlg != nil {
		if err := tc.SearchAlg.Setup(space); err != nil {
			return nil, err
		}
	} else if err := space.check(); err != nil {
		return nil, err
	}
	if tc.Scheduler == nil {
		tc.Scheduler = FIFO{}
	}
	if len(tc.ResourcesPerTrial) == 0 {
		tc.ResourcesPerTrial = map[string]float64{"CPU": 1}
	}
	if tc.MaxConcurrentTrials <= 0 {
		tc.MaxConcurrentTrials = clusterCPUs(ctx)
	}
	dir := filepath.Join(rc.StoragePath, rc.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	exp := &experiment{Name: rc.Name, Trainable: t.name, Metric: tc.Metric, Mode: tc.Mode}
	if tc.SearchAlg != nil {
		// The searcher makes the trials as they start; a restored
		// experiment keeps those it made (see executor.run).
		if restored != nil {
			exp.Trials = restored.Trials
		}
	} else {
		configs := space.variants(tc.NumSamples, rand.New(rand.NewPCG(tc.Seed, tc.Seed^0x9e3779b97f4a7c15)))
		for i, c := range configs {
			exp.Trials = append(exp.Trials, &TrialResult{ID: trialID(i), Config: c, Status: Pending})
		}
	}
	if restored != nil && tc.SearchAlg == nil {
		byID := map[string]*TrialResult{}
		for _, tr := range restored.Trials {
			byID[tr.ID] = tr
		}
		for i, tr := range exp.Trials {
			// An ended trial is kept as it was; one that had not ended keeps
			// its config (PBT may have changed it), checkpoint and results,
			// and resumes (see executor.run).
			if old := byID[tr.ID]; old != nil && (old.Status != Pending || old.Checkpoint != nil) {
				exp.Trials[i] = old
			}
		}
	}
	e := &executor{ctx: ctx, tc: tc, rc: rc, dir: dir, exp: exp, trainable: t.name, start: time.Now()}
	err := e.run()
	if err == nil {
		err = e.save()
	}
	return &ResultGrid{Trials: exp.Trials, Metric: tc.Metric, Mode: tc.Mode, Path: dir}, err
}

// trialID names the experiment's n-th trial.
func trialID(n int) string { return fmt.Sprintf("trial_%05d", n) }

// clusterCPUs is the CPUs of the cluster's live nodes (1 if unknown).
func clusterCPUs(ctx context.Context) int {
	nodes, err := ray.Nodes(ctx)
	if err != nil {
		return 1
	}
	n := 0.0
	for _, nd := range nodes {
		if nd.Alive {
			n += nd.Total["CPU"]
		}
	}
	return max(int(math.Floor(n)), 1)
}
