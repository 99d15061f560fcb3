package trainmlp

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/goray-dev/goray/runtime/ray"
)

func TestMain(m *testing.M) {
	ctx := context.Background()
	if ray.IsWorker() {
		_ = ray.Init(ctx)
	}
	if err := ray.Init(ctx, ray.WithNumCPUs(2)); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		os.Exit(1)
	}
	code := m.Run()
	ray.Shutdown()
	os.Exit(code)
}

// Two workers learn to tell the rings apart.
func TestTrainMLP(t *testing.T) {
	res, err := Run(context.Background(), Config{Epochs: 400, LearningRate: 1}, 2, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.MetricsHistory[0], res.Metrics
	if last["accuracy"] < 0.9 || last["loss"] > first["loss"]/2 {
		t.Fatalf("after %d epochs: accuracy %.3f, loss %.3f (from %.3f)", len(res.MetricsHistory), last["accuracy"], last["loss"], first["loss"])
	}
	if len(res.BestCheckpoints) != 3 || res.Checkpoint == nil {
		t.Fatalf("checkpoints %v, latest %v", res.BestCheckpoints, res.Checkpoint)
	}
}
