package train

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/collective"
	"github.com/goray-dev/goray/runtime/ray"
)

// worker is one training worker: an actor that runs the loop and answers
// the trainer's polls at the same time (max concurrency 2).
type worker struct {
	mu   sync.Mutex
	tc   *Context
	loop runLoop
	cfg  []byte
}

// setupArgs is what a worker is told before it runs.
type setupArgs struct {
	Loop                                      string
	Config                                    []byte
	Run, Group                                string
	WorldSize, WorldRank, LocalRank, NodeRank int
	Resume                                    *Checkpoint
	NextIndex                                 int
	TimeoutSecs                               int
}

// pollReply is what a worker has for the trainer.
type pollReply struct {
	Reports []report
}

var workerClass = ray.Actor("goray.train.Worker", func(ctx context.Context) (*worker, error) { return &worker{}, nil })

var workerSetup = ray.Method(workerClass, "setup", func(w *worker, ctx context.Context, a setupArgs) (bool, error) {
	loop, ok := lookupLoop(a.Loop)
	if !ok {
		return false, fmt.Errorf("train: loop %q is not registered in this binary (train.Loop at package level)", a.Loop)
	}
	tc := &Context{worldSize: a.WorldSize, worldRank: a.WorldRank, localRank: a.LocalRank, nodeRank: a.NodeRank,
		run: a.Run, resume: a.Resume, next: a.NextIndex}
	g, err := collective.Init(ctx, a.Group, a.WorldSize, a.WorldRank, collective.Options{Timeout: time.Duration(a.TimeoutSecs) * time.Second})
	if err != nil {
		return false, err
	}
	tc.group = g
	w.mu.Lock()
	w.tc, w.loop, w.cfg = tc, loop, a.Config
	w.mu.Unlock()
	return true, nil
})

var workerRun = ray.Method0(workerClass, "run", func(w *worker, ctx context.Context) (bool, error) {
	w.mu.Lock()
	tc, loop, cfg := w.tc, w.loop, w.cfg
	w.mu.Unlock()
	if tc == nil {
		return false, errors.New("train: run before setup")
	}
	defer tc.group.Close() // the others' operations fail at once if this loop stops early
	if err := loop(ctx, tc, cfg); err != nil {
		return false, err
	}
	return true, nil
})

var workerPoll = ray.Method0(workerClass, "poll", func(w *worker, ctx context.Context) (pollReply, error) {
	w.mu.Lock()
	tc := w.tc
	w.mu.Unlock()
	if tc == nil {
		return pollReply{}, nil
	}
	return pollReply{Reports: tc.take()}, nil
})
