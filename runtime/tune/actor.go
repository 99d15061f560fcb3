package tune

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/goray-dev/goray/runtime/internal/ckpt"

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
	Dir       string           // the trial's directory
	Resume    *ckpt.Checkpoint // to start from
}

// pollReply is what a runner has for the tuner.
type pollReply struct {
	Trial   string
	Results []result
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
	tc := &Context{trial: a.Trial, dir: a.Dir, resume: a.Resume}
	if len(cks) > 0 {
		tc.next = cks[len(cks)-1].Index + 1
	}
	if a.Resume != nil {
		tc.iter = int(a.Resume.Metrics["training_iteration"])
	}
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
