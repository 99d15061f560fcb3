package tune

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/goray-dev/goray/runtime/train"
)

// TrainerTrainable registers, under name and at package level, a
// trainable whose trials are Train runs (Ray Tune given a Trainer): each
// trial runs train.Fit of loop on its own group of workers (scaling), the
// loop's config being base with the trial's config laid over it (the
// trial's keys replace base's fields of the same JSON name, as Ray's
// param_space {"train_loop_config": {...}} does). Every report of the
// run's rank 0 is a result of the trial, and its checkpoint the trial's
// checkpoint (its files linked, or copied, into the trial's directory), so
// schedulers see each epoch as an iteration and a trial that starts again
// (Restore, HyperBand's resume, PBT's exploit) resumes the Train run from
// it (tc.Checkpoint() in the loop).
//
// run is the runs' failure and checkpoint config; its StoragePath and Name
// are ignored: each trial's run lives in the trial's directory. The
// trial's actor only drives the run: give it few resources
// (TuneConfig.ResourcesPerTrial, e.g. {"CPU": 0.1}); the workers take
// scaling's.
func TrainerTrainable[C any](name string, loop *train.LoopDef[C], base C, scaling train.ScalingConfig, run train.RunConfig) *TrainableDef {
	return Trainable(name, func(ctx context.Context, tc *Context, cfg Config) error {
		c, err := overlay(base, cfg)
		if err != nil {
			return fmt.Errorf("tune: trial %s's config for loop %s: %w", tc.TrialID(), loop.Name(), err)
		}
		rc := run
		rc.StoragePath, rc.Name = tc.dir, "train"
		// Each run starts afresh in the trial's directory, from the
		// trial's checkpoint: a Train checkpoint left by an earlier run
		// and never reported to the tuner must not be resumed.
		if err := os.RemoveAll(filepath.Join(tc.dir, rc.Name)); err != nil {
			return err
		}
		rc.ResumeFromCheckpoint = tc.Checkpoint()
		rc.OnReport = func(ctx context.Context, metrics map[string]float64, ck *train.Checkpoint) error {
			var tck *Checkpoint
			if ck != nil {
				if tck, err = tc.NewCheckpoint(); err != nil {
					return err
				}
				if err := linkTree(ck.Path, tck.Path); err != nil {
					return fmt.Errorf("tune: checkpoint %s: %w", ck.Path, err)
				}
			}
			return tc.Report(ctx, metrics, tck)
		}
		_, err = train.Fit(ctx, loop, c, scaling, rc)
		return err
	})
}

// overlay is base with cfg's keys laid over its JSON fields.
func overlay[C any](base C, cfg Config) (C, error) {
	var out C
	b, err := json.Marshal(base)
	if err != nil {
		return out, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		return out, fmt.Errorf("the base config is not a JSON object: %w", err)
	}
	for k, v := range cfg {
		m[k] = v
	}
	if b, err = json.Marshal(m); err != nil {
		return out, err
	}
	err = json.Unmarshal(b, &out)
	return out, err
}

// linkTree makes dst's files those of src: hard links (a checkpoint is
// not written again once committed), copies where links fail (another
// file system). Commit's metrics file is left out (dst gets its own).
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil || rel == "." || rel == ".metrics.json" {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		if os.Link(p, to) == nil {
			return nil
		}
		return copyFile(p, to)
	})
}

func copyFile(from, to string) (err error) {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	_, err = io.Copy(out, in)
	return err
}
