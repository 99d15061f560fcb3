package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Checkpoint is a directory of a run's state, committed under the run's
// directory as checkpoint_NNNNNN (Ray Train's names), with the metrics
// reported with it.
type Checkpoint struct {
	Path    string             `json:"path"`
	Index   int                `json:"index"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

const (
	checkpointPrefix = "checkpoint_"
	stagingPrefix    = ".staging_"
	metricsFile      = ".metrics.json"
)

func checkpointDir(run string, index int) string {
	return filepath.Join(run, fmt.Sprintf("%s%06d", checkpointPrefix, index))
}

// commit makes the staged directory the checkpoint index: its metrics are
// written into it, then it is renamed into place in one step, so a reader
// (or a resumed run) never sees a checkpoint half written.
func commit(staged, run string, index int, metrics map[string]float64) (*Checkpoint, error) {
	b, err := json.Marshal(metrics)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(staged, metricsFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("train: checkpoint metrics: %w", err)
	}
	dst := checkpointDir(run, index)
	if err := os.Rename(staged, dst); err != nil {
		return nil, fmt.Errorf("train: commit checkpoint %d: %w", index, err)
	}
	return &Checkpoint{Path: dst, Index: index, Metrics: metrics}, nil
}

// clearStaging removes the staging directories of a run's earlier
// attempts (a worker that died while writing a checkpoint): only between
// attempts, when no worker is writing.
func clearStaging(run string) error {
	entries, err := os.ReadDir(run)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), stagingPrefix) {
			if err := os.RemoveAll(filepath.Join(run, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadCheckpoints reads a run directory's committed checkpoints, oldest
// first.
func loadCheckpoints(run string) ([]*Checkpoint, error) {
	entries, err := os.ReadDir(run)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Checkpoint
	for _, e := range entries {
		name := e.Name()
		var index int
		if !e.IsDir() || !strings.HasPrefix(name, checkpointPrefix) {
			continue
		}
		if _, err := fmt.Sscanf(name[len(checkpointPrefix):], "%d", &index); err != nil {
			continue
		}
		ck := &Checkpoint{Path: filepath.Join(run, name), Index: index}
		if b, err := os.ReadFile(filepath.Join(ck.Path, metricsFile)); err == nil {
			_ = json.Unmarshal(b, &ck.Metrics)
		}
		out = append(out, ck)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out, nil
}

// ranked orders checkpoints best first: by the score attribute in its
// order (those without it last), else latest first.
func ranked(cks []*Checkpoint, cfg CheckpointConfig) []*Checkpoint {
	out := append([]*Checkpoint(nil), cks...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if cfg.ScoreAttribute == "" {
			return a.Index > b.Index
		}
		va, oka := a.Metrics[cfg.ScoreAttribute]
		vb, okb := b.Metrics[cfg.ScoreAttribute]
		switch {
		case oka != okb:
			return oka
		case !oka || va == vb:
			return a.Index > b.Index
		case cfg.ScoreOrder == "min":
			return va < vb
		}
		return va > vb
	})
	return out
}

// prune deletes the checkpoints CheckpointConfig does not keep: beyond
// NumToKeep best, except the latest. It returns the kept ones, best first.
func prune(cks []*Checkpoint, cfg CheckpointConfig) []*Checkpoint {
	best := ranked(cks, cfg)
	if cfg.NumToKeep <= 0 || len(best) <= cfg.NumToKeep {
		return best
	}
	latest := 0
	for _, ck := range cks {
		latest = max(latest, ck.Index)
	}
	var kept []*Checkpoint
	for i, ck := range best {
		if i < cfg.NumToKeep || ck.Index == latest {
			kept = append(kept, ck)
			continue
		}
		_ = os.RemoveAll(ck.Path)
	}
	return kept
}
