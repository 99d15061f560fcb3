// Package batchinference is goray Data's batch inference example: a model
// in plain Go (a small two-layer network) is loaded once per actor of a
// pool and scores a Parquet dataset, batch by batch, into another Parquet
// dataset:
//
//	ReadParquet(in) -> MapBatches(score on an actor pool) -> WriteParquet(out)
//
//	err := batchinference.Run(ctx, "/data/features", "/data/scores", "/models/net.json")
package batchinference

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/goray-dev/goray/runtime/data"
)

// Features is the number of inputs of a row: columns f0 … f3.
const Features = 4

// Model is a network with one hidden tanh layer and a sigmoid output.
type Model struct {
	W1 [][]float64 `json:"w1"` // hidden × Features
	B1 []float64   `json:"b1"`
	W2 []float64   `json:"w2"` // hidden
	B2 float64     `json:"b2"`
}

// NewModel makes a model of hidden units with weights from seed.
func NewModel(hidden int, seed uint64) *Model {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := &Model{W1: make([][]float64, hidden), B1: make([]float64, hidden), W2: make([]float64, hidden), B2: rng.NormFloat64()}
	for h := range hidden {
		m.W1[h] = make([]float64, Features)
		for f := range Features {
			m.W1[h][f] = rng.NormFloat64()
		}
		m.B1[h], m.W2[h] = rng.NormFloat64(), rng.NormFloat64()
	}
	return m
}

// Save writes the model as JSON.
func (m *Model) Save(path string) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Load reads a model Save wrote.
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	if len(m.W1) == 0 || len(m.W1) != len(m.B1) || len(m.W1) != len(m.W2) {
		return nil, fmt.Errorf("model %s: inconsistent layer sizes", path)
	}
	return &m, nil
}

// Predict is the network's output for one row of features.
func (m *Model) Predict(x []float64) float64 {
	z := m.B2
	for h, w := range m.W1 {
		a := m.B1[h]
		for f, v := range x {
			a += w[f] * v
		}
		z += m.W2[h] * math.Tanh(a)
	}
	return 1 / (1 + math.Exp(-z))
}

func featureColumns(cols data.Columns) ([][]float64, error) {
	out := make([][]float64, Features)
	for f := range Features {
		xs, ok := cols[fmt.Sprintf("f%d", f)].([]float64)
		if !ok {
			return nil, fmt.Errorf("column f%d is a %T, not float64s", f, cols[fmt.Sprintf("f%d", f)])
		}
		out[f] = xs
	}
	return out, nil
}

// score loads the model once per actor (its path is the constructor's
// argument) and adds column "score" to every batch.
var score = data.MapBatchesClass("batchinference.score",
	func(ctx context.Context, modelPath string) (*Model, error) { return Load(modelPath) },
	func(m *Model, ctx context.Context, cols data.Columns) (data.Columns, error) {
		fs, err := featureColumns(cols)
		if err != nil {
			return nil, err
		}
		n := len(fs[0])
		scores := make([]float64, n)
		x := make([]float64, Features)
		for i := range n {
			for f := range Features {
				x[f] = fs[f][i]
			}
			scores[i] = m.Predict(x)
		}
		cols["score"] = scores
		return cols, nil
	})

// features makes a row's features from its id, deterministically.
var features = data.MapFn("batchinference.features", func(ctx context.Context, r data.Row) (data.Row, error) {
	id := r["id"].(int64)
	rng := rand.New(rand.NewPCG(uint64(id), 2))
	out := data.Row{"id": id}
	for f := range Features {
		out[fmt.Sprintf("f%d", f)] = rng.NormFloat64()
	}
	return out, nil
})

// MakeDataset writes rows rows of features into dir as Parquet, in files
// files.
func MakeDataset(ctx context.Context, dir string, rows int64, files int) error {
	return data.Range(rows, data.OverrideNumBlocks(files)).Map(features).WriteParquet(ctx, dir)
}

// Run scores the Parquet dataset in inDir with the model at modelPath into
// outDir (columns id, f0…f3, score), on a pool of one to maxActors actors.
func Run(ctx context.Context, inDir, outDir, modelPath string, maxActors int) (*data.Dataset, error) {
	ds := data.ReadParquet(inDir).
		MapBatches(score, data.ConstructorArg(modelPath), data.BatchSize(1024), data.ActorPoolSize(1, maxActors))
	return ds, ds.WriteParquet(ctx, outDir)
}

// Scored is a row of Run's output.
type Scored struct {
	ID    int64   `data:"id"`
	F0    float64 `data:"f0"`
	F1    float64 `data:"f1"`
	F2    float64 `data:"f2"`
	F3    float64 `data:"f3"`
	Score float64 `data:"score"`
}

// Check reads the scored dataset in outDir and checks it against the
// model: rows ids 0 … rows-1 in order, each with the model's score of its
// features. It returns the mean score.
func Check(ctx context.Context, outDir string, m *Model, rows int64) (float64, error) {
	got, err := data.TakeAllAs[Scored](ctx, data.ReadParquet(outDir))
	if err != nil {
		return 0, err
	}
	if int64(len(got)) != rows {
		return 0, fmt.Errorf("%d rows scored, want %d", len(got), rows)
	}
	sum := 0.0
	for i, r := range got {
		if r.ID != int64(i) {
			return 0, fmt.Errorf("row %d has id %d", i, r.ID)
		}
		if want := m.Predict([]float64{r.F0, r.F1, r.F2, r.F3}); math.Abs(r.Score-want) > 1e-12 {
			return 0, fmt.Errorf("row %d: score %v, the model says %v", i, r.Score, want)
		}
		sum += r.Score
	}
	return sum / float64(rows), nil
}

// Sample sizes: the dataset Sample makes when dir has none.
const (
	SampleRows  = 20_000
	SampleFiles = 8
	SampleSeed  = 3
)

// Sample is the goray-examples command (`goray-examples batch-inference
// [DIR]`, the RayJob sample config/samples/ray-job.batch-inference.yaml):
// in dir, which every node must see at the same path (a shared volume, or
// one node), it makes the model (model.json) and the input dataset
// (features/, SampleRows rows in SampleFiles Parquet files) unless they are
// there, scores the dataset into a new directory scores-<time>/ on a pool
// of up to maxActors actors, reads the output back and checks every score
// against the model, and prints the run's stats and a summary line.
func Sample(ctx context.Context, w io.Writer, dir string, maxActors int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	modelPath, in := filepath.Join(dir, "model.json"), filepath.Join(dir, "features")
	if _, err := os.Stat(modelPath); errors.Is(err, fs.ErrNotExist) {
		if err := NewModel(8, SampleSeed).Save(modelPath); err != nil {
			return err
		}
		fmt.Fprintf(w, "batch-inference: wrote the model to %s\n", modelPath)
	} else if err != nil {
		return err
	}
	m, err := Load(modelPath)
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(in); errors.Is(err, fs.ErrNotExist) || err == nil && len(entries) == 0 {
		if err := MakeDataset(ctx, in, SampleRows, SampleFiles); err != nil {
			return fmt.Errorf("making the input dataset: %w", err)
		}
		fmt.Fprintf(w, "batch-inference: wrote %d rows of features to %s\n", SampleRows, in)
	} else if err != nil {
		return err
	}
	rows, err := data.ReadParquet(in).Count(ctx)
	if err != nil {
		return err
	}
	out := filepath.Join(dir, fmt.Sprintf("scores-%d", time.Now().UnixNano()))
	ds, err := Run(ctx, in, out, modelPath, maxActors)
	if err != nil {
		return err
	}
	fmt.Fprint(w, ds.Stats())
	mean, err := Check(ctx, out, m, rows)
	if err != nil {
		return fmt.Errorf("checking %s: %w", out, err)
	}
	fmt.Fprintf(w, "batch-inference: %d rows scored into %s, every score matches the model (mean score %.4f)\n", rows, out, mean)
	return nil
}
