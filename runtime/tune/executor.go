package tune

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goray-dev/goray/runtime/internal/ckpt"
	"github.com/goray-dev/goray/runtime/ray"
)

// executor runs an experiment's trials on a pool of runner actors.
type executor struct {
	ctx       context.Context
	tc        TuneConfig
	rc        RunConfig
	dir       string
	exp       *experiment
	trainable string
	start     time.Time
	lastTable time.Time
	lastSave  time.Time
}

// slot is a runner actor and the trial it runs.
type slot struct {
	h     ray.ActorHandle[runner]
	trial *TrialResult
	run   ray.Ref[bool]
	// ack and stop answer the results the last poll returned.
	ack, stop bool
	// exploit: when this run ends, the trial starts again with another
	// config from a copy of another trial's checkpoint (PBT).
	exploit *exploit
}

type exploit struct {
	donor  *ckpt.Checkpoint
	config Config
}

// pollInterval is how often running trials are asked for their results.
const pollInterval = 20 * time.Millisecond

// saveInterval spaces the saves of the state for results (a trial's start
// and end save it at once): a restored trial resumes from the latest
// checkpoint the state names.
const saveInterval = 100 * time.Millisecond

func (e *executor) run() error {
	ctx := e.ctx
	var pending []*TrialResult
	for _, tr := range e.exp.Trials {
		if tr.Status != Terminated && tr.Status != Errored {
			// A trial that had not ended starts again from its latest
			// checkpoint, its history kept up to it.
			keep := 0
			if ck := tr.Checkpoint; ck != nil {
				for keep < len(tr.History) && tr.History[keep]["training_iteration"] <= ck.Metrics["training_iteration"] {
					keep++
				}
			}
			tr.Status, tr.History, tr.Error, tr.Stopped = Pending, tr.History[:keep], "", false
			tr.Metrics = nil
			if keep > 0 {
				tr.Metrics = tr.History[keep-1]
			}
			pending = append(pending, tr)
		}
	}
	if err := e.save(); err != nil {
		return err
	}
	slots := make([]*slot, 0, e.tc.MaxConcurrentTrials)
	defer func() {
		for _, s := range slots {
			_ = ray.Kill(context.WithoutCancel(ctx), s.h, true)
		}
	}()
	for {
		overBudget := e.tc.TimeBudget > 0 && time.Since(e.start) > e.tc.TimeBudget
		// Start trials on idle runners (new ones up to the limit).
		for len(pending) > 0 && !overBudget {
			var s *slot
			for _, x := range slots {
				if x.trial == nil {
					s = x
					break
				}
			}
			if s == nil && len(slots) < e.tc.MaxConcurrentTrials {
				h, err := runnerClass.Remote(ctx, ray.Resources(e.tc.ResourcesPerTrial), ray.MaxConcurrency(2))
				if err != nil {
					return err
				}
				s = &slot{h: h}
				slots = append(slots, s)
			}
			if s == nil {
				break
			}
			tr := pending[0]
			pending = pending[1:]
			if err := e.launch(ctx, s, tr); err != nil {
				return err
			}
		}
		busy, moved := 0, false
		for _, s := range slots {
			if s.trial == nil {
				continue
			}
			busy++
			got, err := e.step(ctx, s, overBudget)
			if err != nil {
				return err
			}
			moved = moved || got
		}
		if moved && time.Since(e.lastSave) > saveInterval {
			if err := e.save(); err != nil { // the results and checkpoints so far
				return err
			}
		}
		e.progress(false)
		if busy == 0 && (len(pending) == 0 || overBudget) {
			e.progress(true)
			return nil
		}
		if moved {
			continue // a trial waits for the answer to its result: no pause
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// step answers a running trial's last results and collects its new ones,
// applying the scheduler and the stop criteria, and ends the trial when
// its run has returned. It reports whether results came.
func (e *executor) step(ctx context.Context, s *slot, overBudget bool) (bool, error) {
	tr := s.trial
	if overBudget && !tr.Stopped {
		tr.Stopped, s.stop = true, true
	}
	p, perr := ray.Get(ctx, runnerPoll.Remote(ctx, s.h, pollArgs{Trial: tr.ID, Ack: s.ack, Stop: s.stop}))
	s.ack = false
	got := false
	if perr == nil && p.Trial == tr.ID {
		for _, r := range p.Results {
			e.result(tr, r, s)
			s.ack, got = true, true
		}
	}
	ready, _, err := ray.Wait(ctx, []ray.Ref[bool]{s.run}, 1, time.Millisecond)
	if err != nil {
		return got, err
	}
	if len(ready) == 0 && perr == nil {
		return got, nil
	}
	_, rerr := ray.Get(ctx, s.run)
	if x := s.exploit; x != nil && rerr == nil && perr == nil {
		s.exploit = nil
		return true, e.restart(ctx, s, x)
	}
	switch {
	case rerr != nil:
		tr.Status, tr.Error = Errored, rerr.Error()
	case perr != nil:
		tr.Status, tr.Error = Errored, perr.Error()
	default:
		tr.Status = Terminated
	}
	e.tc.Scheduler.OnComplete(tr.ID)
	s.trial = nil
	if rerr != nil || perr != nil {
		// The runner may be gone with the trial: a fresh one takes its slot.
		_ = ray.Kill(context.WithoutCancel(ctx), s.h, true)
		h, err := runnerClass.Remote(ctx, ray.Resources(e.tc.ResourcesPerTrial), ray.MaxConcurrency(2))
		if err != nil {
			return got, err
		}
		s.h = h
	}
	return true, e.save()
}

// launch starts tr on s's runner, from tr's latest checkpoint if it has one.
func (e *executor) launch(ctx context.Context, s *slot, tr *TrialResult) error {
	cfg, err := json.Marshal(tr.Config)
	if err != nil {
		return fmt.Errorf("tune: trial %s's config: %w", tr.ID, err)
	}
	s.trial, s.ack, s.stop, s.exploit, tr.Status = tr, false, false, nil, Running
	s.run = runnerRun.Remote(ctx, s.h, runArgs{Trainable: e.trainable, Trial: tr.ID, Config: cfg,
		Dir: filepath.Join(e.dir, tr.ID), Resume: tr.Checkpoint})
	return e.save()
}

// restart is PBT's exploit and explore: the trial takes a copy of the
// donor's checkpoint as its own latest and the new config, and runs again.
func (e *executor) restart(ctx context.Context, s *slot, x *exploit) error {
	tr := s.trial
	dir := filepath.Join(e.dir, tr.ID)
	cks, err := ckpt.Load(dir)
	if err != nil {
		return err
	}
	next := 0
	if len(cks) > 0 {
		next = cks[len(cks)-1].Index + 1
	}
	staged, err := ckpt.NewStaging(dir, "exploit")
	if err != nil {
		return err
	}
	if err := os.CopyFS(staged, os.DirFS(x.donor.Path)); err != nil {
		return fmt.Errorf("tune: copy %s's checkpoint: %w", x.donor.Path, err)
	}
	ck, err := ckpt.Commit(staged, dir, next, x.donor.Metrics)
	if err != nil {
		return err
	}
	tr.Checkpoint, tr.Config = ck, x.config
	return e.launch(ctx, s, tr)
}

// trial is the trial id's result so far (for schedulers that compare).
func (e *executor) trial(id string) *TrialResult {
	for _, tr := range e.exp.Trials {
		if tr.ID == id {
			return tr
		}
	}
	return nil
}

// result records one result and decides whether the trial goes on (or,
// under PBT, starts again from another trial's checkpoint).
func (e *executor) result(tr *TrialResult, r result, s *slot) {
	m := r.Metrics
	tr.Metrics = m
	tr.History = append(tr.History, m)
	if r.Checkpoint != nil {
		tr.Checkpoint = r.Checkpoint
	}
	e.appendResult(tr, m)
	if tr.Stopped || s.exploit != nil {
		return
	}
	stop := false
	for k, v := range e.rc.Stop {
		if x, ok := m[k]; ok && x >= v {
			stop = true
		}
	}
	if v, ok := m[e.tc.Metric]; ok {
		score := v
		if e.tc.Mode == "min" {
			score = -v
		}
		if e.tc.Scheduler.OnResult(tr.ID, int(m["training_iteration"]), score) == Stop {
			stop = true
		} else if x, ok := e.tc.Scheduler.(Exploiter); ok && !stop {
			if donor, cfg, ok := x.Exploit(tr.ID, int(m["training_iteration"]), e.trial); ok && donor.Checkpoint != nil {
				s.exploit = &exploit{donor: donor.Checkpoint, config: cfg}
				s.stop = true // this run ends; the trial starts again from the donor's state
				return
			}
		}
	}
	if stop {
		tr.Stopped, s.stop = true, true
	}
}

// appendResult writes a result as a JSON line in the trial's result.json
// (Ray's per-trial results).
func (e *executor) appendResult(tr *TrialResult, m map[string]float64) {
	d := filepath.Join(e.dir, tr.ID)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(filepath.Join(d, "result.json"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	b, _ := json.Marshal(map[string]any{"trial_id": tr.ID, "config": tr.Config, "metrics": m})
	_, _ = f.Write(append(b, '\n'))
}

// save writes the experiment's state atomically (a temporary file renamed).
func (e *executor) save() error {
	e.lastSave = time.Now()
	b, err := json.Marshal(e.exp)
	if err != nil {
		return err
	}
	tmp := filepath.Join(e.dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("tune: save the experiment: %w", err)
	}
	return os.Rename(tmp, filepath.Join(e.dir, stateFile))
}

// progress prints the table every few seconds (and at the end).
func (e *executor) progress(final bool) {
	if e.rc.Progress == nil || (!final && time.Since(e.lastTable) < 5*time.Second) {
		return
	}
	e.lastTable = time.Now()
	(&ResultGrid{Trials: e.exp.Trials, Metric: e.tc.Metric, Mode: e.tc.Mode}).Table(e.rc.Progress, 20)
}
