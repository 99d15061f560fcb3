package tune

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/goray-dev/goray/runtime/internal/ckpt"
)

// ErrStopped is what Report returns once the trial has been stopped (by
// its scheduler, a stop criterion or the time budget): the trainable
// should return.
var ErrStopped = errors.New("tune: trial stopped")

// TrainableDef is a registered trainable.
type TrainableDef struct{ name string }

// Name is the trainable's registered name.
func (t *TrainableDef) Name() string { return t.name }

type trainableFn func(ctx context.Context, tc *Context, cfg Config) error

var (
	trainablesMu sync.Mutex
	trainables   = map[string]trainableFn{}
)

// Trainable registers a function trainable under name, at package level
// (trials run in the cluster's workers, which find it by name). It reports
// results with tc.Report until it returns or Report says ErrStopped.
func Trainable(name string, fn func(ctx context.Context, tc *Context, cfg Config) error) *TrainableDef {
	trainablesMu.Lock()
	defer trainablesMu.Unlock()
	if _, dup := trainables[name]; dup {
		panic(fmt.Sprintf("tune: trainable %q registered twice", name))
	}
	trainables[name] = fn
	return &TrainableDef{name: name}
}

func lookupTrainable(name string) (trainableFn, bool) {
	trainablesMu.Lock()
	defer trainablesMu.Unlock()
	fn, ok := trainables[name]
	return fn, ok
}

// Context is a trial's view of its run (Ray's tune.report and
// get_context).
type Context struct {
	trial  string
	run    int
	dir    string           // the trial's directory (checkpoints)
	resume *ckpt.Checkpoint // to resume from (Restore, or PBT's exploit)
	noWait bool             // Report does not wait for the tuner (see runArgs)
	mu     sync.Mutex
	iter   int
	stop   bool
	queue  []result
	next   int // the index of the trial's next checkpoint
	// more is signalled (capacity 1) when a result is queued or the run
	// ends: a waiting poll answers at once.
	more  chan struct{}
	ended bool // the run returned
	// acked closes when the tuner has taken the queued result and decided.
	acked chan struct{}
}

// result is one Report as the tuner collects it.
type result struct {
	Metrics    map[string]float64 `json:"metrics"`
	Checkpoint *ckpt.Checkpoint   `json:"checkpoint,omitempty"`
}

// Checkpoint is a trial's saved state: a directory and the metrics
// reported with it.
type Checkpoint = ckpt.Checkpoint

// TrialID is the trial's id.
func (c *Context) TrialID() string { return c.trial }

// Checkpoint is the checkpoint to start from (nil on a fresh trial): the
// trial's latest after a Restore, another trial's under PBT's exploit.
func (c *Context) Checkpoint() *Checkpoint { return c.resume }

// NewCheckpoint makes an empty directory to write a checkpoint into; give
// it to Report, which commits it.
func (c *Context) NewCheckpoint() (*Checkpoint, error) {
	dir, err := ckpt.NewStaging(c.dir, "t")
	if err != nil {
		return nil, fmt.Errorf("tune: %w", err)
	}
	return &Checkpoint{Path: dir}, nil
}

// Report records one result, its iteration (training_iteration) counted
// for it, with ck (nil: none) committed as the trial's next checkpoint, and
// waits until the tuner has taken it (as Ray's function trainables do):
// the scheduler's decision comes before the next step. When no decision
// can stop the trial (the FIFO scheduler, no stop criteria, no time
// budget) it does not wait: the result goes to the tuner while the trial
// goes on. It returns ErrStopped once the trial has been stopped.
func (c *Context) Report(ctx context.Context, metrics map[string]float64, ck *Checkpoint) error {
	c.mu.Lock()
	if c.stop {
		c.mu.Unlock()
		return ErrStopped
	}
	c.iter++
	m := maps.Clone(metrics)
	if m == nil {
		m = map[string]float64{}
	}
	m["training_iteration"] = float64(c.iter)
	r := result{Metrics: m}
	if ck != nil {
		committed, err := ckpt.Commit(ck.Path, c.dir, c.next, m)
		if err != nil {
			c.mu.Unlock()
			return fmt.Errorf("tune: %w", err)
		}
		c.next++
		r.Checkpoint = committed
	}
	c.queue = append(c.queue, r)
	select {
	case c.more <- struct{}{}:
	default:
	}
	if c.noWait {
		c.mu.Unlock()
		return nil
	}
	acked := make(chan struct{})
	c.acked = acked
	c.mu.Unlock()
	select {
	case <-acked:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stop {
		return ErrStopped
	}
	return nil
}

// exchange takes the tuner's answer to the results it took last (stop or
// not), releasing the Report waiting on it, and returns the results queued
// since.
func (c *Context) exchange(ack, stop bool) ([]result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if stop {
		c.stop = true
	}
	if ack && c.acked != nil && len(c.queue) == 0 {
		close(c.acked)
		c.acked = nil
	}
	q := c.queue
	c.queue = nil
	return q, c.ended
}

// decodeConfig reads a config sent as JSON (numbers come back as float64;
// Config.Int converts them).
func decodeConfig(b []byte) (Config, error) {
	var c Config
	err := json.Unmarshal(b, &c)
	return c, err
}
