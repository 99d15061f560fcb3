package trainmlp

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/goray-dev/goray/runtime/ray"
)

func TestMain(m *testing.M) { os.Exit(ray.RunTests(m, ray.WithNumCPUs(2))) }

// Two workers learn to tell the rings apart, and reach the loss one worker
// reaches on the same data: the all-reduced gradient is the whole batch's,
// so the two runs differ only by the order of float additions (tolerance:
// 1e-9 of the loss).
func TestTrainMLP(t *testing.T) {
	cfg := Config{Epochs: 400, LearningRate: 1}
	res, err := Run(context.Background(), cfg, 2, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	one, err := Run(context.Background(), cfg, 1, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if a, b := res.Metrics["loss"], one.Metrics["loss"]; math.Abs(a-b) > 1e-9*b {
		t.Fatalf("final loss on two workers %v, on one %v", a, b)
	}
	first, last := res.MetricsHistory[0], res.Metrics
	if last["accuracy"] < 0.9 || last["loss"] > first["loss"]/2 {
		t.Fatalf("after %d epochs: accuracy %.3f, loss %.3f (from %.3f)", len(res.MetricsHistory), last["accuracy"], last["loss"], first["loss"])
	}
	if len(res.BestCheckpoints) != 3 || res.Checkpoint == nil {
		t.Fatalf("checkpoints %v, latest %v", res.BestCheckpoints, res.Checkpoint)
	}
}
