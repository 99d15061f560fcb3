package tune

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/collective"
	"github.com/goray-dev/goray/runtime/internal/ckpt"
	"github.com/goray-dev/goray/runtime/train"
)

// gdConfig is the Train loop's config: Tune lays the trial's "lr" over it.
type gdConfig struct {
	LR     float64 `json:"lr"`
	Epochs int     `json:"epochs"`
	Marks  string  `json:"marks"`
}

// gdLoop fits w to the mean of the workers' targets (rank r's is 2 + 2r:
// 3 for two workers) by gradient descent on (w - target)², the gradient
// all-reduced each epoch, w checkpointed by rank 0 every epoch. After t
// epochs from w = 0, w = 3 - 3(1 - 2·lr)^t.
var gdLoop = train.Loop("test.gd", func(ctx context.Context, tc *train.Context, cfg gdConfig) error {
	w, start := 0.0, 1
	if ck := tc.Checkpoint(); ck != nil {
		b, err := os.ReadFile(filepath.Join(ck.Path, "w"))
		if err != nil {
			return err
		}
		if _, err := fmt.Sscan(string(b), &w, &start); err != nil {
			return err
		}
		start++
	}
	if tc.WorldRank() == 0 && cfg.Marks != "" {
		f, err := os.OpenFile(filepath.Join(cfg.Marks, fmt.Sprint(cfg.LR)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		fmt.Fprintln(f, start)
		_ = f.Close()
	}
	target := 2 + 2*float64(tc.WorldRank())
	for e := start; e <= cfg.Epochs; e++ {
		time.Sleep(10 * time.Millisecond)
		g := []float64{2 * (w - target)}
		if err := collective.AllReduce(ctx, tc.Group(), g, collective.Mean); err != nil {
			return err
		}
		w -= cfg.LR * g[0]
		var ck *train.Checkpoint
		if tc.WorldRank() == 0 {
			var err error
			if ck, err = tc.NewCheckpoint(); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(ck.Path, "w"), []byte(fmt.Sprint(w, e)), 0o600); err != nil {
				return err
			}
		}
		if err := tc.Report(ctx, map[string]float64{"loss": (w - 3) * (w - 3), "w": w, "epoch": float64(e)}, ck); err != nil {
			return err
		}
	}
	return nil
})

var gdTrainer = TrainerTrainable("test.gd_trainer", gdLoop, gdConfig{LR: 0.01, Epochs: 100},
	train.ScalingConfig{NumWorkers: 2, ResourcesPerWorker: map[string]float64{"CPU": 0.9}},
	train.RunConfig{CheckpointConfig: train.CheckpointConfig{NumToKeep: 2}})

// Tune over a Train trainer: each trial a Train run of two workers. Under
// HyperBand (MaxT 3, η 3: a bracket of 2 trials run to 3 epochs, one of 3
// trials run to 1, its best resumed to 3; one trial at a time, so that the
// best pauses), the trials' histories are their
// runs' epochs, the scheduler stops runs (their workers freed for the next
// trials), and the resumed trial's Train run starts from the trial's
// checkpoint and ends where an uninterrupted run does.
func TestTrainerTrainable(t *testing.T) {
	marks := t.TempDir()
	lrs := []any{0.05, 0.1, 0.2, 0.02, 0.01}
	grid, err := Fit(context.Background(), gdTrainer, Space{"lr": GridSearch(lrs...), "marks": marks},
		TuneConfig{Metric: "loss", Mode: "min", MaxConcurrentTrials: 1, ResourcesPerTrial: map[string]float64{"CPU": 0.1},
			Scheduler: &HyperBand{MaxT: 3, ReductionFactor: 3}},
		RunConfig{StoragePath: t.TempDir(), Name: "trainer"})
	if err != nil {
		t.Fatal(err)
	}
	// Trials 0, 1: 3 epochs. Trials 2-4 (lr 0.2, 0.02, 0.01): 1 epoch,
	// then the best (0.2: it paused first, one trial at a time) to 3.
	want := map[float64]int{0.05: 3, 0.1: 3, 0.02: 1, 0.2: 3, 0.01: 1}
	for _, tr := range grid.Trials {
		lr := tr.Config.Float("lr")
		if tr.Status != Terminated || len(tr.History) != want[lr] {
			t.Fatalf("lr %v: %s after %d results (%s), want %d", lr, tr.Status, len(tr.History), tr.Error, want[lr])
		}
		for i, m := range tr.History {
			if m["epoch"] != float64(i+1) || m["training_iteration"] != float64(i+1) {
				t.Fatalf("lr %v: result %d is epoch %v, iteration %v", lr, i, m["epoch"], m["training_iteration"])
			}
		}
		n := len(tr.History)
		if w := 3 - 3*math.Pow(1-2*lr, float64(n)); math.Abs(tr.Metrics["w"]-w) > 1e-12 {
			t.Fatalf("lr %v: w %v after %d epochs, want %v", lr, tr.Metrics["w"], n, w)
		}
		// The trial's checkpoints are its own copies of the run's, each
		// with the w of its epoch.
		cks, err := ckpt.Load(filepath.Join(grid.Path, tr.ID))
		if err != nil || len(cks) != n {
			t.Fatalf("lr %v: %d checkpoints (%v), want %d", lr, len(cks), err, n)
		}
		b, err := os.ReadFile(filepath.Join(cks[n-1].Path, "w"))
		if err != nil || !strings.HasSuffix(string(b), fmt.Sprint(" ", n)) {
			t.Fatalf("lr %v: the last checkpoint holds %q (%v)", lr, b, err)
		}
		b, _ = os.ReadFile(filepath.Join(marks, fmt.Sprint(lr)))
		starts := strings.Fields(string(b))
		wantStarts := "1"
		if lr == 0.2 {
			wantStarts = "1 2" // paused after epoch 1, resumed from its checkpoint
		}
		if strings.Join(starts, " ") != wantStarts {
			t.Fatalf("lr %v: runs started at epochs %v, want %s", lr, starts, wantStarts)
		}
	}
	best, _ := grid.Best()
	if best.Config.Float("lr") != 0.2 {
		t.Fatalf("best lr %v", best.Config["lr"])
	}
}

// overlay lays a trial's keys over the base config's JSON fields.
func TestOverlay(t *testing.T) {
	got, err := overlay(gdConfig{LR: 1, Epochs: 7, Marks: "m"}, Config{"lr": 0.5, "unknown": 1})
	if err != nil || got != (gdConfig{LR: 0.5, Epochs: 7, Marks: "m"}) {
		t.Fatalf("%+v, %v", got, err)
	}
	if _, err := overlay(gdConfig{}, Config{"epochs": "many"}); err == nil {
		t.Fatal("a string accepted for an int field")
	}
}
