// Package trainmlp is goray Train's example: a small multilayer perceptron
// (2 inputs, a hidden layer of tanh units, a sigmoid output) learning to
// tell points of an inner ring from those of an outer one, trained
// data-parallel on a group of
// workers — each computes the gradient on its shard of the data, the group
// averages the gradients with an all-reduce, every worker takes the same
// step — with a checkpoint each epoch, in plain Go.
//
//	res, err := trainmlp.Run(ctx, trainmlp.Config{Epochs: 300}, 2, "/tmp/goray-train")
//	fmt.Println(res.Metrics["accuracy"])
//
// `goray-examples train-mlp` runs it on the cluster it is given
// (GORAY_ADDRESS) or on an embedded one.
package trainmlp

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/goray-dev/goray/runtime/collective"
	"github.com/goray-dev/goray/runtime/train"
)

// Config is the run's: the data, the network and the schedule.
type Config struct {
	Samples      int     `json:"samples"`       // points per ring (200 if 0)
	Hidden       int     `json:"hidden"`        // hidden units (16 if 0)
	Epochs       int     `json:"epochs"`        // full-batch steps (300 if 0)
	LearningRate float64 `json:"learning_rate"` // 0.5 if 0
}

func (c *Config) defaults() {
	if c.Samples <= 0 {
		c.Samples = 200
	}
	if c.Hidden <= 0 {
		c.Hidden = 16
	}
	if c.Epochs <= 0 {
		c.Epochs = 300
	}
	if c.LearningRate <= 0 {
		c.LearningRate = 0.5
	}
}

// circles is the dataset: n points on a circle of radius 0.5 labelled 0
// and n on one of radius 1 labelled 1, with noise — not separable by a
// line, easy for a hidden layer — the same on every worker (a fixed seed).
func circles(n int) ([][2]float64, []float64) {
	rng := rand.New(rand.NewPCG(7, 7))
	var xs [][2]float64
	var ys []float64
	for label, r := range []float64{0.5, 1} {
		for range n {
			t := rng.Float64() * 2 * math.Pi
			rr := r + rng.NormFloat64()*0.08
			xs = append(xs, [2]float64{rr * math.Cos(t), rr * math.Sin(t)})
			ys = append(ys, float64(label))
		}
	}
	return xs, ys
}

// model is the network's parameters in one slice (what the workers
// all-reduce and checkpoint): w1 (hidden×2), b1 (hidden), w2 (hidden), b2.
type model struct {
	hidden int
	p      []float64
}

func newModel(hidden int) model {
	rng := rand.New(rand.NewPCG(1, 1))
	m := model{hidden: hidden, p: make([]float64, 4*hidden+1)}
	for i := range m.p {
		m.p[i] = rng.NormFloat64() * 0.5
	}
	return m
}

func (m model) w1(h, i int) *float64 { return &m.p[2*h+i] }
func (m model) b1(h int) *float64    { return &m.p[2*m.hidden+h] }
func (m model) w2(h int) *float64    { return &m.p[3*m.hidden+h] }
func (m model) b2() *float64         { return &m.p[4*m.hidden] }

// forward is the network's output and its hidden activations for x.
func (m model) forward(x [2]float64, act []float64) float64 {
	z := *m.b2()
	for h := range m.hidden {
		act[h] = math.Tanh(*m.w1(h, 0)*x[0] + *m.w1(h, 1)*x[1] + *m.b1(h))
		z += *m.w2(h) * act[h]
	}
	return 1 / (1 + math.Exp(-z))
}

// gradient adds to grad (same layout as p) the gradient of the mean
// cross-entropy over n points of the points given, and returns their
// summed loss and correct predictions.
func (m model) gradient(xs [][2]float64, ys []float64, n float64, grad []float64) (loss, correct float64) {
	act := make([]float64, m.hidden)
	g := model{hidden: m.hidden, p: grad}
	for i, x := range xs {
		p := m.forward(x, act)
		loss -= ys[i]*math.Log(p+1e-12) + (1-ys[i])*math.Log(1-p+1e-12)
		if (p > 0.5) == (ys[i] == 1) {
			correct++
		}
		dz := (p - ys[i]) / n
		*g.b2() += dz
		for h := range m.hidden {
			*g.w2(h) += dz * act[h]
			da := dz * *m.w2(h) * (1 - act[h]*act[h])
			*g.b1(h) += da
			*g.w1(h, 0) += da * x[0]
			*g.w1(h, 1) += da * x[1]
		}
	}
	return loss, correct
}

// Loop is the training loop each worker runs.
var Loop = train.Loop("examples.train-mlp", func(ctx context.Context, tc *train.Context, cfg Config) error {
	cfg.defaults()
	xs, ys := circles(cfg.Samples)
	n := float64(len(xs))
	xs, ys = train.Shard(tc, xs), train.Shard(tc, ys)
	m := newModel(cfg.Hidden)
	start := 0
	if ck := tc.Checkpoint(); ck != nil { // resume after a failure
		b, err := os.ReadFile(filepath.Join(ck.Path, "model.json"))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &m.p); err != nil {
			return err
		}
		start = int(ck.Metrics["epoch"]) + 1
	}
	// The gradient, then the shard's loss and correct count: one all-reduce.
	buf := make([]float64, len(m.p)+2)
	for epoch := start; epoch < cfg.Epochs; epoch++ {
		clear(buf)
		loss, correct := m.gradient(xs, ys, n, buf[:len(m.p)])
		buf[len(m.p)], buf[len(m.p)+1] = loss, correct
		if err := collective.AllReduce(ctx, tc.Group(), buf, collective.Sum); err != nil {
			return err
		}
		for i := range m.p {
			m.p[i] -= cfg.LearningRate * buf[i]
		}
		metrics := map[string]float64{"epoch": float64(epoch), "loss": buf[len(m.p)] / n, "accuracy": buf[len(m.p)+1] / n}
		var ck *train.Checkpoint
		if tc.WorldRank() == 0 && (epoch%10 == 9 || epoch == cfg.Epochs-1) {
			var err error
			if ck, err = tc.NewCheckpoint(); err != nil {
				return err
			}
			b, _ := json.Marshal(m.p)
			if err := os.WriteFile(filepath.Join(ck.Path, "model.json"), b, 0o600); err != nil {
				return err
			}
		}
		if err := tc.Report(ctx, metrics, ck); err != nil {
			return err
		}
	}
	return nil
})

// Run trains the network on workers workers, keeping its run under storage.
func Run(ctx context.Context, cfg Config, workers int, storage string) (*train.Result, error) {
	return train.Fit(ctx, Loop, cfg, train.ScalingConfig{NumWorkers: workers},
		train.RunConfig{StoragePath: storage, Name: "train-mlp", FailureConfig: train.FailureConfig{MaxFailures: 2},
			CheckpointConfig: train.CheckpointConfig{NumToKeep: 3, ScoreAttribute: "loss", ScoreOrder: "min"}})
}
