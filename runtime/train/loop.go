package train

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"strconv"
	"sync"

	"github.com/goray-dev/goray/runtime/collective"
	"github.com/goray-dev/goray/runtime/internal/ckpt"
)

// LoopDef is a registered training loop.
type LoopDef[C any] struct {
	name string
}

// Name is the loop's registered name.
func (l *LoopDef[C]) Name() string { return l.name }

// runLoop runs a loop from its JSON config (on a worker).
type runLoop func(ctx context.Context, tc *Context, config []byte) error

var (
	loopsMu sync.Mutex
	loops   = map[string]runLoop{}
)

// Loop registers a training loop under name, at package level: workers
// find it by name in the same binary. cfg is the config Fit was given,
// passed to every worker as JSON.
func Loop[C any](name string, fn func(ctx context.Context, tc *Context, cfg C) error) *LoopDef[C] {
	loopsMu.Lock()
	defer loopsMu.Unlock()
	if _, dup := loops[name]; dup {
		panic(fmt.Sprintf("train: loop %q registered twice", name))
	}
	loops[name] = func(ctx context.Context, tc *Context, config []byte) error {
		var cfg C
		if err := json.Unmarshal(config, &cfg); err != nil {
			return fmt.Errorf("train: the config of loop %q: %w", name, err)
		}
		return fn(ctx, tc, cfg)
	}
	return &LoopDef[C]{name: name}
}

func lookupLoop(name string) (runLoop, bool) {
	loopsMu.Lock()
	defer loopsMu.Unlock()
	l, ok := loops[name]
	return l, ok
}

// Context is what a worker's loop knows of the run (Ray's
// ray.train.get_context() and ray.train.report).
type Context struct {
	worldSize, worldRank, localRank, nodeRank int
	run                                       string
	resume                                    *Checkpoint
	group                                     *collective.Group

	mu      sync.Mutex
	next    int // the index rank 0 gives its next checkpoint
	reports []report
}

// report is one Report as the trainer collects it.
type report struct {
	Metrics    map[string]float64 `json:"metrics"`
	Checkpoint *Checkpoint        `json:"checkpoint,omitempty"`
}

// WorldSize is the number of workers.
func (c *Context) WorldSize() int { return c.worldSize }

// WorldRank is this worker's rank among all workers, from 0.
func (c *Context) WorldRank() int { return c.worldRank }

// LocalRank is this worker's rank among the workers on its node.
func (c *Context) LocalRank() int { return c.localRank }

// NodeRank is the rank of this worker's node among the run's nodes.
func (c *Context) NodeRank() int { return c.nodeRank }

// Group is the collective group of every worker, in world rank order.
func (c *Context) Group() *collective.Group { return c.group }

// Checkpoint is the checkpoint to resume from: the run's latest when this
// attempt started (nil on a fresh run).
func (c *Context) Checkpoint() *Checkpoint { return c.resume }

// NewCheckpoint makes an empty directory to write a checkpoint into; give
// it to Report, which commits it (rank 0's) or drops it (the others').
func (c *Context) NewCheckpoint() (*Checkpoint, error) {
	dir, err := ckpt.NewStaging(c.run, strconv.Itoa(c.worldRank))
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return &Checkpoint{Path: dir}, nil
}

// Report records metrics, and with rank 0's ck a new checkpoint of the
// run. Every worker must call it, the same number of times: it waits for
// all of them (a barrier), so that no worker runs ahead of a checkpoint.
func (c *Context) Report(ctx context.Context, metrics map[string]float64, ck *Checkpoint) error {
	r := report{Metrics: maps.Clone(metrics)}
	if ck != nil {
		if c.worldRank == 0 {
			c.mu.Lock()
			index := c.next
			c.next++
			c.mu.Unlock()
			committed, err := ckpt.Commit(ck.Path, c.run, index, r.Metrics)
			if err != nil {
				return err
			}
			r.Checkpoint = committed
		} else {
			_ = os.RemoveAll(ck.Path)
		}
	}
	if c.group != nil {
		if err := collective.Barrier(ctx, c.group); err != nil {
			return fmt.Errorf("train: report: %w", err)
		}
	}
	c.mu.Lock()
	c.reports = append(c.reports, r)
	c.mu.Unlock()
	return nil
}

// take returns the reports since the last take.
func (c *Context) take() []report {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.reports
	c.reports = nil
	return out
}

// Shard is this worker's part of xs: contiguous, the workers' parts in
// rank order covering xs once (Ray Train's dataset shard, for data in plain
// slices).
func Shard[T any](tc *Context, xs []T) []T {
	lo, hi := tc.worldRank*len(xs)/tc.worldSize, (tc.worldRank+1)*len(xs)/tc.worldSize
	return xs[lo:hi]
}
