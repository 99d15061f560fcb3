package train

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/collective"
	"github.com/goray-dev/goray/runtime/internal/ckpt"
	"github.com/goray-dev/goray/runtime/ray"
)

// workerTimeout bounds the workers' collective operations (a lost worker
// fails the others' at once; this catches one that hangs).
const workerTimeout = 10 * time.Minute

// Fit runs loop with cfg on a group of workers until every worker's loop
// returns; a failed attempt is retried from the latest checkpoint within
// run.FailureConfig.MaxFailures. It returns the run's Result, whose Error
// is also returned.
func Fit[C any](ctx context.Context, loop *LoopDef[C], cfg C, scaling ScalingConfig, run RunConfig) (*Result, error) {
	if _, ok := lookupLoop(loop.name); !ok {
		return nil, fmt.Errorf("train: loop %q is not registered", loop.name)
	}
	if err := scaling.check(); err != nil {
		return nil, err
	}
	if err := run.check(loop.name, time.Now()); err != nil {
		return nil, err
	}
	config, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("train: the loop's config: %w", err)
	}
	dir := filepath.Join(run.StoragePath, run.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: the run's directory: %w", err)
	}
	res := &Result{Path: dir}
	// hist[i] is the checkpoint index reported with MetricsHistory[i] (-1:
	// none): a restart drops the reports after the checkpoint it resumes
	// from, which the new attempt makes again.
	var hist []int
	for {
		if err := ckpt.ClearStaging(dir); err != nil {
			return nil, err
		}
		cks, err := ckpt.Load(dir)
		if err != nil {
			return nil, err
		}
		if res.Failures > 0 {
			if cks, err = dropUnseen(cks, hist); err != nil {
				return nil, err
			}
		}
		res.BestCheckpoints = prune(cks, run.CheckpointConfig)
		resume := run.ResumeFromCheckpoint
		next := 0
		if len(cks) > 0 {
			resume = cks[len(cks)-1]
			next = resume.Index + 1
			res.Checkpoint = resume
		}
		keep := 0
		for i, ck := range hist {
			if resume != nil && ck == resume.Index {
				keep = i + 1
			}
		}
		res.MetricsHistory, hist = res.MetricsHistory[:keep], hist[:keep]
		if keep > 0 {
			res.Metrics = res.MetricsHistory[keep-1]
		}
		err = attempt(ctx, loop.name, config, scaling, run, dir, resume, next, res, &hist)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			res.Error = fmt.Errorf("train: %w", ctx.Err())
			return res, res.Error
		}
		var ce callbackError
		if errors.As(err, &ce) {
			res.Error = ce.err
			return res, res.Error
		}
		res.Failures++
		if max := run.FailureConfig.MaxFailures; max >= 0 && res.Failures > max {
			res.Error = fmt.Errorf("train: run %s failed %d times (max_failures %d); the last: %w", run.Name, res.Failures, max, err)
			return res, res.Error
		}
		log.Printf("train: run %s: attempt %d failed, restarting from %s: %v", run.Name, res.Failures, describe(res.Checkpoint), err)
	}
	cks, err := ckpt.Load(dir)
	if err != nil {
		return res, err
	}
	res.BestCheckpoints = ranked(cks, run.CheckpointConfig)
	if len(cks) > 0 {
		res.Checkpoint = cks[len(cks)-1]
	}
	return res, nil
}

// callbackError is RunConfig.OnReport's error: it ends the run, no retry.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// dropUnseen deletes the checkpoints committed after the last one whose
// report the trainer collected: a worker that died before the trainer's
// poll took those reports with it, so resuming from them would leave a gap
// in the metrics history. As in Ray Train, a checkpoint counts once its
// report reaches the trainer; the attempt redoes the work since.
func dropUnseen(cks []*Checkpoint, hist []int) ([]*Checkpoint, error) {
	seen := -1
	for _, ck := range hist {
		seen = max(seen, ck)
	}
	kept := cks[:0:0]
	for _, ck := range cks {
		if ck.Index <= seen {
			kept = append(kept, ck)
			continue
		}
		if err := os.RemoveAll(ck.Path); err != nil {
			return nil, fmt.Errorf("train: drop checkpoint %d: %w", ck.Index, err)
		}
	}
	return kept, nil
}

func describe(ck *Checkpoint) string {
	if ck == nil {
		return "the start"
	}
	return ck.Path
}

// attempt runs the loop once on a fresh group of workers and collects
// their reports into res until every loop returns or one fails.
func attempt(ctx context.Context, loop string, config []byte, scaling ScalingConfig, run RunConfig, dir string,
	resume *Checkpoint, next int, res *Result, hist *[]int) error {
	bundles := make([]map[string]float64, scaling.NumWorkers)
	for i := range bundles {
		bundles[i] = scaling.ResourcesPerWorker
	}
	pg, err := ray.NewPlacementGroup(ctx, bundles, scaling.PlacementStrategy)
	if err != nil {
		return err
	}
	defer func() { _ = ray.RemovePlacementGroup(context.WithoutCancel(ctx), pg) }()
	if err := pg.Ready(ctx); err != nil {
		return err
	}
	nodes, err := pg.BundleNodes(ctx)
	if err != nil {
		return err
	}
	local, nodeRank := ranks(nodes)
	workers := make([]ray.ActorHandle[worker], scaling.NumWorkers)
	for i := range workers {
		h, err := workerClass.Remote(ctx, ray.InPlacementGroup(pg, i), ray.Resources(scaling.ResourcesPerWorker), ray.MaxConcurrency(2))
		if err != nil {
			return err
		}
		workers[i] = h
		defer func() { _ = ray.Kill(context.WithoutCancel(ctx), h, true) }()
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	group := "train/" + filepath.Base(dir) + "/" + hex.EncodeToString(b[:])
	setups := make([]ray.Ref[bool], len(workers))
	for i, h := range workers {
		setups[i] = workerSetup.Remote(ctx, h, setupArgs{Loop: loop, Config: config, Run: dir, Group: group,
			WorldSize: len(workers), WorldRank: i, LocalRank: local[i], NodeRank: nodeRank[i], Resume: resume,
			NextIndex: next, TimeoutSecs: int(workerTimeout / time.Second)})
	}
	if _, err := ray.GetAll(ctx, setups...); err != nil {
		return fmt.Errorf("train: starting the workers: %w", err)
	}
	runs := make([]ray.Ref[bool], len(workers))
	for i, h := range workers {
		runs[i] = workerRun.Remote(ctx, h)
	}
	collect := func() error {
		for i, h := range workers {
			p, err := ray.Get(ctx, workerPoll.Remote(ctx, h))
			if err != nil {
				return fmt.Errorf("train: worker %d: %w", i, err)
			}
			if i != 0 {
				continue
			}
			for _, r := range p.Reports {
				res.Metrics = r.Metrics
				res.MetricsHistory = append(res.MetricsHistory, r.Metrics)
				*hist = append(*hist, -1)
				if run.OnReport != nil {
					if err := run.OnReport(ctx, r.Metrics, r.Checkpoint); err != nil {
						return callbackError{err}
					}
				}
				if r.Checkpoint != nil {
					(*hist)[len(*hist)-1] = r.Checkpoint.Index
					res.Checkpoint = r.Checkpoint
					cks, err := ckpt.Load(dir)
					if err != nil {
						return err
					}
					// Only those reported so far: rank 0 may have committed
					// later ones the trainer has not seen (see dropUnseen).
					seen := slices.IndexFunc(cks, func(ck *Checkpoint) bool { return ck.Index > r.Checkpoint.Index })
					if seen >= 0 {
						cks = cks[:seen]
					}
					res.BestCheckpoints = prune(cks, run.CheckpointConfig)
				}
			}
		}
		return nil
	}
	for {
		ready, _, err := ray.Wait(ctx, runs, len(runs), run.PollInterval)
		if err != nil {
			return err
		}
		for _, r := range ready {
			if _, err := ray.Get(ctx, r); err != nil {
				// What was reported before the failure counts.
				if err := collect(); errors.As(err, new(callbackError)) {
					return err
				}
				return rootCause(ctx, runs)
			}
		}
		if err := collect(); err != nil {
			return err
		}
		if len(ready) == len(runs) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// rootCause is the failure of an attempt: a worker's own error rather than
// the lost-member errors the others get when its group closes. The others
// fail within moments of the first; it waits for them a little.
func rootCause(ctx context.Context, runs []ray.Ref[bool]) error {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ready, _, _ := ray.Wait(wctx, runs, len(runs), 0)
	rank := map[string]int{}
	for i, r := range runs {
		rank[r.ID()] = i
	}
	var first error
	for _, r := range ready {
		i := rank[r.ID()]
		_, err := ray.Get(ctx, r)
		if err == nil {
			continue
		}
		err = fmt.Errorf("train: worker %d: %w", i, err)
		if !strings.Contains(err.Error(), collective.ErrMemberLost.Error()) {
			return err
		}
		if first == nil {
			first = err
		}
	}
	return first
}

// ranks are each worker's local rank (among the workers of its node) and
// node rank (its node's order of first appearance).
func ranks(nodes []string) (local, node []int) {
	seen := map[string]int{}
	count := map[string]int{}
	local, node = make([]int, len(nodes)), make([]int, len(nodes))
	for i, n := range nodes {
		if _, ok := seen[n]; !ok {
			seen[n] = len(seen)
		}
		node[i], local[i] = seen[n], count[n]
		count[n]++
	}
	return local, node
}
