package batchinference

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/ray"
)

func TestMain(m *testing.M) { os.Exit(ray.RunTests(m, ray.WithNumCPUs(2))) }

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
	if _, err := Check(ctx, out, model, rows); err != nil {
		t.Fatal(err)
	}
	// Check fails on a model that did not make the scores.
	if _, err := Check(ctx, out, NewModel(8, 4), rows); err == nil || !strings.Contains(err.Error(), "the model says") {
		t.Fatalf("Check against another model: %v", err)
	}
	if _, err := Check(ctx, out, model, rows+1); err == nil {
		t.Fatal("Check accepted a missing row")
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

// Sample makes its model and dataset in an empty directory, scores and
// checks them; run again, it reuses them and scores into a new directory.
func TestSample(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "bi")
	var out bytes.Buffer
	if err := Sample(ctx, &out, dir, 2); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	done := regexp.MustCompile(`batch-inference: 20000 rows scored into (\S+), every score matches the model \(mean score 0\.\d{4}\)`)
	m := done.FindStringSubmatch(out.String())
	if m == nil || !strings.Contains(out.String(), "wrote 20000 rows of features") || !strings.Contains(out.String(), "MapBatches(batchinference.score)") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
	out.Reset()
	if err := Sample(ctx, &out, dir, 1); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	m2 := done.FindStringSubmatch(out.String())
	if m2 == nil || m2[1] == m[1] || strings.Contains(out.String(), "wrote") {
		t.Fatalf("second run: want the same input reused and a new output directory:\n%s", out.String())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 4 { // model.json, features, two scores-*
		t.Fatalf("%d entries in %s, want 4", len(entries), dir)
	}
}
