package batchinference

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/goray-dev/goray/runtime/data"
	"github.com/goray-dev/goray/runtime/ray"
)

func TestMain(m *testing.M) { os.Exit(ray.RunTests(m, ray.WithNumCPUs(2))) }

type scored struct {
	ID    int64   `data:"id"`
	F0    float64 `data:"f0"`
	F1    float64 `data:"f1"`
	F2    float64 `data:"f2"`
	F3    float64 `data:"f3"`
	Score float64 `data:"score"`
}

// The pipeline's scores are the model's, row by row, for every row.
func TestBatchInference(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in, out, modelPath := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "model.json")
	model := NewModel(8, 3)
	if err := model.Save(modelPath); err != nil {
		t.Fatal(err)
	}
	const rows = 5000
	if err := MakeDataset(ctx, in, rows, 5); err != nil {
		t.Fatal(err)
	}
	ds, err := Run(ctx, in, out, modelPath, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(ds.Stats())
	got, err := data.TakeAllAs[scored](ctx, data.ReadParquet(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != rows {
		t.Fatalf("%d rows scored, want %d", len(got), rows)
	}
	for i, r := range got {
		if r.ID != int64(i) {
			t.Fatalf("row %d has id %d", i, r.ID)
		}
		want := model.Predict([]float64{r.F0, r.F1, r.F2, r.F3})
		if math.Abs(r.Score-want) > 1e-12 {
			t.Fatalf("row %d: score %v, the model says %v", i, r.Score, want)
		}
	}

	// A model that cannot be loaded fails the run and writes nothing.
	bad := filepath.Join(dir, "bad")
	if _, err := Run(ctx, in, bad, filepath.Join(dir, "missing.json"), 1); err == nil {
		t.Fatal("a missing model scored the data")
	}
	if entries, _ := os.ReadDir(bad); len(entries) != 0 {
		t.Fatalf("a failed run left %d files", len(entries))
	}
}
