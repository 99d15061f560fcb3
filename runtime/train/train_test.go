package train

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/collective"
	"github.com/goray-dev/goray/runtime/internal/ckpt"
	"github.com/goray-dev/goray/runtime/ray"
)

// The tests run on an embedded local cluster; its workers run this test
// binary, which serves tasks in TestMain.
func TestMain(m *testing.M) { os.Exit(ray.RunTests(m, ray.WithNumCPUs(4))) }

// lrConfig configures a logistic regression on generated data.
type lrConfig struct {
	Samples, Features, Epochs int
	LearningRate              float64
	// FailRank fails (returns an error) at FailEpoch on a run that did not
	// resume from a checkpoint; -1 never.
	FailRank, FailEpoch int
	// FailExit: the worker's process exits instead.
	FailExit bool
	// CheckpointEvery epochs rank 0 checkpoints (every epoch if 0).
	CheckpointEvery int
	// FailOnce, a file's path, makes the failure happen once, whether or
	// not the run resumed: the first to fail creates the file.
	FailOnce string
}

// dataset is the same generated data on every worker: points labelled by
// a fixed hyperplane.
func dataset(cfg lrConfig) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(1, 2))
	truth := make([]float64, cfg.Features)
	for i := range truth {
		truth[i] = rng.NormFloat64()
	}
	xs, ys := make([][]float64, cfg.Samples), make([]float64, cfg.Samples)
	for i := range xs {
		xs[i] = make([]float64, cfg.Features)
		dot := 0.0
		for j := range xs[i] {
			xs[i][j] = rng.NormFloat64()
			dot += xs[i][j] * truth[j]
		}
		if dot > 0 {
			ys[i] = 1
		}
	}
	return xs, ys
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// lrLoop trains logistic regression data-parallel: each worker computes the
// gradient on its shard, the group averages them, every worker takes the
// same step; rank 0 checkpoints the weights each epoch.
var lrLoop = Loop("test.logreg", func(ctx context.Context, tc *Context, cfg lrConfig) error {
	xs, ys := dataset(cfg)
	w := make([]float64, cfg.Features+1) // weights and bias
	start := 0
	if ck := tc.Checkpoint(); ck != nil {
		b, err := os.ReadFile(filepath.Join(ck.Path, "weights"))
		if err != nil {
			return err
		}
		for i := range w {
			w[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		start = int(ck.Metrics["epoch"]) + 1
	}
	n := float64(len(xs)) // the gradient is the whole dataset's mean
	xs, ys = Shard(tc, xs), Shard(tc, ys)
	for epoch := start; epoch < cfg.Epochs; epoch++ {
		if tc.WorldRank() == cfg.FailRank && epoch == cfg.FailEpoch && failNow(tc, cfg.FailOnce) {
			if cfg.FailExit {
				os.Exit(3)
			}
			return errors.New("failing on purpose")
		}
		grad := make([]float64, len(w)+1) // gradient and the shard's loss
		for i := range xs {
			z := w[len(w)-1]
			for j, x := range xs[i] {
				z += w[j] * x
			}
			p := sigmoid(z)
			for j, x := range xs[i] {
				grad[j] += (p - ys[i]) * x / n
			}
			grad[len(w)-1] += (p - ys[i]) / n
			grad[len(w)] -= (ys[i]*math.Log(p+1e-12) + (1-ys[i])*math.Log(1-p+1e-12)) / n
		}
		if err := collective.AllReduce(ctx, tc.Group(), grad, collective.Sum); err != nil {
			return err
		}
		for j := range w {
			w[j] -= cfg.LearningRate * grad[j]
		}
		var ck *Checkpoint
		if tc.WorldRank() == 0 && (cfg.CheckpointEvery <= 1 || epoch%cfg.CheckpointEvery == cfg.CheckpointEvery-1) {
			var err error
			if ck, err = tc.NewCheckpoint(); err != nil {
				return err
			}
			b := make([]byte, 0, 8*len(w))
			for _, x := range w {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
			}
			if err := os.WriteFile(filepath.Join(ck.Path, "weights"), b, 0o600); err != nil {
				return err
			}
		}
		if err := tc.Report(ctx, map[string]float64{"epoch": float64(epoch), "loss": grad[len(w)],
			"world_size": float64(tc.WorldSize())}, ck); err != nil {
			return err
		}
	}
	return nil
})

func TestFitTrainsAndKeepsTheBestCheckpoints(t *testing.T) {
	cfg := lrConfig{Samples: 2000, Features: 5, Epochs: 8, LearningRate: 2, FailRank: -1}
	res, err := Fit(context.Background(), lrLoop, cfg, ScalingConfig{NumWorkers: 2},
		RunConfig{StoragePath: t.TempDir(), Name: "lr", CheckpointConfig: CheckpointConfig{NumToKeep: 2, ScoreAttribute: "loss", ScoreOrder: "min"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.MetricsHistory) != cfg.Epochs || res.Metrics["world_size"] != 2 || res.Failures != 0 {
		t.Fatalf("history %v, metrics %v, failures %d", res.MetricsHistory, res.Metrics, res.Failures)
	}
	first, last := res.MetricsHistory[0]["loss"], res.MetricsHistory[cfg.Epochs-1]["loss"]
	if !(last < first*0.8) {
		t.Fatalf("the loss went from %v to %v", first, last)
	}
	if res.Checkpoint == nil || res.Checkpoint.Metrics["epoch"] != float64(cfg.Epochs-1) {
		t.Fatalf("latest checkpoint %+v", res.Checkpoint)
	}
	// Kept: the two best by loss (the last two epochs, the loss falling)
	// and the latest, which is one of them.
	entries, _ := os.ReadDir(res.Path)
	var dirs []string
	for _, e := range entries {
		dirs = append(dirs, e.Name())
	}
	if len(res.BestCheckpoints) != 2 || res.BestCheckpoints[0].Metrics["loss"] > res.BestCheckpoints[1].Metrics["loss"] ||
		!slices.Equal(dirs, []string{"checkpoint_000006", "checkpoint_000007"}) {
		t.Fatalf("best %v, on disk %v", res.BestCheckpoints, dirs)
	}
}

// A worker that fails mid-run: the group restarts from the latest
// checkpoint and the run ends as if it had not failed.
func TestFitRestartsFromTheLatestCheckpoint(t *testing.T) {
	cfg := lrConfig{Samples: 500, Features: 3, Epochs: 6, LearningRate: 1, FailRank: 1, FailEpoch: 3}
	res, err := Fit(context.Background(), lrLoop, cfg, ScalingConfig{NumWorkers: 3},
		RunConfig{StoragePath: t.TempDir(), Name: "restart", FailureConfig: FailureConfig{MaxFailures: 1}})
	if err != nil {
		t.Fatal(err)
	}
	var epochs []float64
	for _, m := range res.MetricsHistory {
		epochs = append(epochs, m["epoch"])
	}
	// Epochs 0-2 reported before the failure, then 3-5 after the restart.
	if res.Failures != 1 || !slices.Equal(epochs, []float64{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("failures %d, epochs reported %v", res.Failures, epochs)
	}

	// Checkpoints every 3 epochs, a failure at epoch 4: the reports of
	// epoch 3 (after the checkpoint of epoch 2) are made again, once.
	cfg.FailEpoch, cfg.Epochs, cfg.CheckpointEvery = 4, 7, 3
	res, err = Fit(context.Background(), lrLoop, cfg, ScalingConfig{NumWorkers: 2},
		RunConfig{StoragePath: t.TempDir(), Name: "gap", FailureConfig: FailureConfig{MaxFailures: 1}})
	if err != nil {
		t.Fatal(err)
	}
	epochs = epochs[:0]
	for _, m := range res.MetricsHistory {
		epochs = append(epochs, m["epoch"])
	}
	if res.Failures != 1 || !slices.Equal(epochs, []float64{0, 1, 2, 3, 4, 5, 6}) {
		t.Fatalf("failures %d, epochs reported %v: want each once", res.Failures, epochs)
	}
	cfg.FailEpoch, cfg.Epochs, cfg.CheckpointEvery = 3, 6, 0

	// The same with the worker's process gone.
	cfg.FailExit = true
	res, err = Fit(context.Background(), lrLoop, cfg, ScalingConfig{NumWorkers: 3},
		RunConfig{StoragePath: t.TempDir(), Name: "exit", FailureConfig: FailureConfig{MaxFailures: 1}})
	if err != nil {
		t.Fatalf("after a worker's process exited: %v", err)
	}
	if res.Failures != 1 || len(res.MetricsHistory) != cfg.Epochs {
		t.Fatalf("after a worker's process exited: failures %d, %d reports", res.Failures, len(res.MetricsHistory))
	}

	cfg.FailExit = false
	cfg.FailEpoch = 0 // fails before any checkpoint, on every attempt
	_, err = Fit(context.Background(), lrLoop, cfg, ScalingConfig{NumWorkers: 2},
		RunConfig{StoragePath: t.TempDir(), Name: "fails", FailureConfig: FailureConfig{MaxFailures: 1}})
	if err == nil || !strings.Contains(err.Error(), "failed 2 times") || !strings.Contains(err.Error(), "failing on purpose") {
		t.Fatalf("a run that always fails: %v", err)
	}
}

// failNow is whether a worker fails as lrConfig says: once if failOnce
// names a file, else on a run that did not resume.
func failNow(tc *Context, failOnce string) bool {
	if failOnce == "" {
		return tc.Checkpoint() == nil
	}
	f, err := os.OpenFile(failOnce, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false
	}
	_ = f.Close()
	return true
}

// Rank 0's process gone before the trainer collected its reports: the
// checkpoints it committed since the trainer's last poll went with the
// reports, and the run starts again from the last checkpoint the trainer
// saw (here none), so the history has every epoch once.
func TestFitDropsCheckpointsNeverReported(t *testing.T) {
	cfg := lrConfig{Samples: 500, Features: 3, Epochs: 6, LearningRate: 1, FailRank: 0, FailEpoch: 3, FailExit: true,
		FailOnce: filepath.Join(t.TempDir(), "failed")}
	run := RunConfig{StoragePath: t.TempDir(), Name: "unseen", FailureConfig: FailureConfig{MaxFailures: 1},
		PollInterval: time.Hour} // no poll before the failure
	res, err := Fit(context.Background(), lrLoop, cfg, ScalingConfig{NumWorkers: 2}, run)
	if err != nil {
		t.Fatal(err)
	}
	var epochs []float64
	for _, m := range res.MetricsHistory {
		epochs = append(epochs, m["epoch"])
	}
	if res.Failures != 1 || !slices.Equal(epochs, []float64{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("failures %d, epochs reported %v: want each once", res.Failures, epochs)
	}
	if res.Checkpoint == nil || res.Checkpoint.Index != 5 || res.Checkpoint.Metrics["epoch"] != 5 {
		t.Fatalf("latest checkpoint %+v: want index 5 of epoch 5", res.Checkpoint)
	}
}

func TestShard(t *testing.T) {
	xs := []int{0, 1, 2, 3, 4, 5, 6}
	var all []int
	for r := range 3 {
		all = append(all, Shard(&Context{worldRank: r, worldSize: 3}, xs)...)
	}
	if !slices.Equal(all, xs) {
		t.Fatalf("shards cover %v", all)
	}
}

func TestRanks(t *testing.T) {
	local, node := ranks([]string{"a", "b", "a", "c", "b", "a"})
	if !slices.Equal(local, []int{0, 0, 1, 0, 1, 2}) || !slices.Equal(node, []int{0, 1, 0, 2, 1, 0}) {
		t.Fatalf("local %v node %v", local, node)
	}
}

func TestCheckpointsCommitLoadAndPrune(t *testing.T) {
	run := t.TempDir()
	for i, loss := range []float64{0.5, 0.2, 0.9, 0.4} {
		staged, err := ckpt.NewStaging(run, fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ckpt.Commit(staged, run, i, map[string]float64{"loss": loss}); err != nil {
			t.Fatal(err)
		}
	}
	dead, _ := ckpt.NewStaging(run, "dead") // a worker died writing it
	cks, err := ckpt.Load(run)
	if err != nil || len(cks) != 4 || cks[2].Metrics["loss"] != 0.9 {
		t.Fatalf("loaded %v, %v", cks, err)
	}
	if _, err := os.Stat(dead); err != nil {
		t.Fatal("loading removed a staging directory (a live worker may be writing it)")
	}
	if err := ckpt.ClearStaging(run); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatal("a staging directory survived ClearStaging")
	}
	kept := prune(cks, CheckpointConfig{NumToKeep: 2, ScoreAttribute: "loss", ScoreOrder: "min"})
	var idx []int
	for _, ck := range kept {
		idx = append(idx, ck.Index)
	}
	// The two lowest losses (1, 3) and the latest (3) are kept.
	if !slices.Equal(idx, []int{1, 3}) {
		t.Fatalf("kept %v", idx)
	}
	if left, _ := ckpt.Load(run); len(left) != 2 {
		t.Fatalf("%d checkpoints on disk after pruning", len(left))
	}
	if r := ranked(cks[:3], CheckpointConfig{}); r[0].Index != 2 {
		t.Fatal("without a score, the latest first")
	}
}
