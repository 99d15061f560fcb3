package tune

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/internal/ckpt"

	"github.com/goray-dev/goray/runtime/ray"
)

// runner is a trial actor: it runs trials one after another (actors are
// reused between trials, as Ray's reuse_actors), answering the tuner's
// polls while a trial runs. The tuner may submit the next run while one
// goes on: it waits for its turn (gate) and starts the moment the first
// returns (max concurrency 5: two runs, a poll of each, a cancel).
type runner struct {
	gate chan struct{} // held by the run going on
	mu   sync.Mutex
	// runs are the runs whose results the tuner has not all taken: the
	// one going on, and one that returned with results still queued (a
	// NoWait run) while the next has started.
	runs map[runKey]*Context
	// cancelled runs return without starting (queued runs the tuner no
	// longer wants: the time budget ran out).
	cancelled map[runKey]bool
	// changed is closed (and replaced) when a run starts: polls waiting
	// for their run wake up.
	changed chan struct{}
}

type runKey struct {
	trial string
	run   int
}

// start makes tc a run the tuner can poll and wakes the polls waiting
// for it.
func (r *runner) start(tc *Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[runKey{tc.trial, tc.run}] = tc
	close(r.changed)
	r.changed = make(chan struct{})
}

type runArgs struct {
	Trainable string
	Trial     string
	Run       int // the tuner's launch: a restarted trial has a new one
	Config    []byte
	Dir       string           // the trial's directory
	Resume    *ckpt.Checkpoint // to start from
	// NoWait: Report does not wait for the tuner's decision (it can only
	// be to go on).
	NoWait bool
}

// pollReply is what a runner has for the tuner; Ended says the trial's
// run has returned (no result comes after these).
type pollReply struct {
	Trial   string
	Results []result
	Ended   bool
}

var runnerClass = ray.Actor("goray.tune.Runner", func(ctx context.Context) (*runner, error) {
	return &runner{gate: make(chan struct{}, 1), runs: map[runKey]*Context{}, cancelled: map[runKey]bool{},
		changed: make(chan struct{})}, nil
})

var runnerRun = ray.Method(runnerClass, "run", func(r *runner, ctx context.Context, a runArgs) (bool, error) {
	fn, ok := lookupTrainable(a.Trainable)
	if !ok {
		return false, fmt.Errorf("tune: trainable %q is not registered in this binary (tune.Trainable at package level)", a.Trainable)
	}
	cfg, err := decodeConfig(a.Config)
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(a.Dir, 0o755); err != nil {
		return false, err
	}
	if err := ckpt.ClearStaging(a.Dir); err != nil { // a run of this trial that died writing
		return false, err
	}
	cks, err := ckpt.Load(a.Dir)
	if err != nil {
		return false, err
	}
	tc := &Context{trial: a.Trial, run: a.Run, dir: a.Dir, resume: a.Resume, noWait: a.NoWait, more: make(chan struct{}, 1)}
	if len(cks) > 0 {
		tc.next = cks[len(cks)-1].Index + 1
	}
	if a.Resume != nil {
		tc.iter = int(a.Resume.Metrics["training_iteration"])
	}
	// The setup above is done while the run before this one (if any)
	// goes on; the trial starts the moment that run returns.
	select {
	case r.gate <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-r.gate }()
	r.mu.Lock()
	cancelled := r.cancelled[runKey{tc.trial, tc.run}]
	delete(r.cancelled, runKey{tc.trial, tc.run})
	r.mu.Unlock()
	if cancelled {
		// Never started (the tuner knows it by no results): a poll
		// waiting for the run hears at once that it is over.
		tc.ended = true
		r.start(tc)
		return false, nil
	}
	r.start(tc)
	err = fn(ctx, tc, cfg)
	tc.mu.Lock()
	tc.ended = true
	tc.mu.Unlock()
	select { // a waiting poll sees the end
	case tc.more <- struct{}{}:
	default:
	}
	// true: the trainable returned by itself; false: it was stopped (or
	// failed), so a paused trial has more to do.
	if errors.Is(err, ErrStopped) {
		return false, nil
	}
	return err == nil, err
})

// pollArgs answer the results the last poll returned: Ack releases the
// trial's waiting Report, Stop stops the trial.
type pollArgs struct {
	Trial     string
	Run       int
	Ack, Stop bool
	// Final: the run has returned (the tuner saw it end), so the poll
	// answers at once with whatever is left.
	Final bool
}

// longPoll is how long a poll waits for a result before it answers empty.
const longPoll = 500 * time.Millisecond

var runnerPoll = ray.Method(runnerClass, "poll", func(r *runner, ctx context.Context, a pollArgs) (pollReply, error) {
	current := func() (*Context, <-chan struct{}) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if tc := r.runs[runKey{a.Trial, a.Run}]; tc != nil {
			return tc, nil
		}
		return nil, r.changed
	}
	tc, changed := current()
	if tc == nil && a.Final {
		return pollReply{Trial: a.Trial, Ended: true}, nil
	}
	if tc == nil {
		// The trial's run has not started here yet (it waits behind
		// another, or calls of one actor started out of order), or it is
		// over: the tuner knows which.
		t := time.NewTimer(longPoll)
		defer t.Stop()
		for tc == nil {
			select {
			case <-changed:
			case <-t.C:
				return pollReply{Trial: a.Trial}, nil
			case <-ctx.Done():
				return pollReply{Trial: a.Trial}, nil
			}
			tc, changed = current()
		}
	}
	got, ended := tc.exchange(a.Ack, a.Stop)
	if len(got) == 0 && !ended && !a.Stop && !a.Final {
		// Wait for the next result (or the run's end), so that the tuner
		// hears of it at once without asking again and again.
		t := time.NewTimer(longPoll)
		select {
		case <-tc.more:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		got, ended = tc.exchange(false, false)
	}
	if ended {
		// The tuner has the run's last results.
		r.mu.Lock()
		delete(r.runs, runKey{tc.trial, tc.run})
		r.mu.Unlock()
	}
	return pollReply{Trial: tc.trial, Results: got, Ended: ended}, nil
})

// cancelArgs name a queued run.
type cancelArgs struct {
	Trial string
	Run   int
}

// runnerCancel keeps a queued run from starting (if it has not yet).
var runnerCancel = ray.Method(runnerClass, "cancel", func(r *runner, ctx context.Context, a cancelArgs) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs[runKey{a.Trial, a.Run}] != nil {
		return false, nil // already under way
	}
	r.cancelled[runKey{a.Trial, a.Run}] = true
	return true, nil
})
