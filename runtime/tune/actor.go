package tune

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/goray-dev/goray/runtime/ray"
)

// runner is a trial actor: it runs trials one after another (actors are
// reused between trials, as Ray's reuse_actors), answering the tuner's
// polls while a trial runs (max concurrency 2).
type runner struct {
	mu  sync.Mutex
	cur *Context
}

type runArgs struct {
	Trainable string
	Trial     string
	Config    []byte
}

// pollReply is what a runner has for the tuner.
type pollReply struct {
	Trial   string
	Results []map[string]float64
}

var runnerClass = ray.Actor("goray.tune.Runner", func(ctx context.Context) (*runner, error) { return &runner{}, nil })

var runnerRun = ray.Method(runnerClass, "run", func(r *runner, ctx context.Context, a runArgs) (bool, error) {
	fn, ok := lookupTrainable(a.Trainable)
	if !ok {
		return false, fmt.Errorf("tune: trainable %q is not registered in this binary (tune.Trainable at package level)", a.Trainable)
	}
	cfg, err := decodeConfig(a.Config)
	if err != nil {
		return false, err
	}
	tc := &Context{trial: a.Trial}
	r.mu.Lock()
	r.cur = tc
	r.mu.Unlock()
	err = fn(ctx, tc, cfg)
	if errors.Is(err, ErrStopped) {
		err = nil
	}
	return err == nil, err
})

// pollArgs answer the results the last poll returned: Ack releases the
// trial's waiting Report, Stop stops the trial.
type pollArgs struct {
	Trial     string
	Ack, Stop bool
}

var runnerPoll = ray.Method(runnerClass, "poll", func(r *runner, ctx context.Context, a pollArgs) (pollReply, error) {
	r.mu.Lock()
	tc := r.cur
	r.mu.Unlock()
	if tc == nil || tc.trial != a.Trial {
		return pollReply{}, nil
	}
	return pollReply{Trial: tc.trial, Results: tc.exchange(a.Ack, a.Stop)}, nil
})
