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
	"fmt"
	"math"
	"math/rand/v2"
	"os"

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
