package train

import (
	"os"
	"sort"

	"github.com/goray-dev/goray/runtime/internal/ckpt"
)

// Checkpoint is a directory of a run's state, committed under the run's
// directory as checkpoint_NNNNNN (Ray Train's names), with the metrics
// reported with it.
type Checkpoint = ckpt.Checkpoint

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
