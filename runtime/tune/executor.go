package tune

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
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
	events    chan event
	// pending trials have not run yet (or ran before a Restore); paused
	// ones wait for their scheduler, which moves them to resumable.
	pending, paused, resumable []*TrialResult
	// requeued are the trials whose queued run was lost with its runner.
	requeued map[string]bool
	state    stateCache
}

// slot is a runner actor and the runs submitted to it: the one going on
// and, when the next trial is known in advance, the next one, which the
// runner starts the moment the first returns (see prefetch).
type slot struct {
	h           ray.ActorHandle[runner]
	gen         int     // counts launches
	cur, queued *launch // nil: none
}

// launch is one run of a trial on a slot, shared with its watcher.
type launch struct {
	gen   int
	trial *TrialResult
	h     ray.ActorHandle[runner] // the runner it was submitted to
	// stop is read by the watcher: the trial is to stop.
	stop atomic.Bool
	// decided answers the results the watcher brought (true: stop).
	decided chan bool
	// started: results came (the run is under way on the runner).
	started bool
	// behind: submitted behind another run of the runner (prefetched).
	behind bool
	// exploit: when this run ends, the trial starts again with another
	// config from a copy of another trial's checkpoint (PBT).
	exploit *exploit
	// pause: when this run ends, the trial waits for its scheduler to
	// resume it from its latest checkpoint (HyperBand).
	pause bool
}

type exploit struct {
	donor  *ckpt.Checkpoint
	config Config
}

// event is what a launch's watcher or its run's end tells the main loop.
type event struct {
	s        *slot
	l        *launch
	results  []result
	done     bool  // the run returned
	finished bool  // the trainable returned by itself (not stopped)
	err      error // the run's error, or the poll's
}

// saveInterval spaces the saves of the state: a restored trial resumes
// from the latest checkpoint the state names, and a trial that ended after
// the last save runs again.
const saveInterval = 100 * time.Millisecond

func (e *executor) run() error {
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	pauser, _ := e.tc.Scheduler.(Pauser)
	for _, tr := range e.exp.Trials {
		if tr.Status == Terminated || tr.Status == Errored {
			// A restored experiment's ended trials teach its searcher.
			e.searched(tr)
			continue
		}
		// A trial that had not ended starts again from its latest
		// checkpoint, its history kept up to it (and its result.json: the
		// dead driver's last results may be there and not in the state).
		rewind(tr)
		if err := e.rewriteResults(tr); err != nil {
			return err
		}
		tr.Status, tr.Error, tr.Stopped = Pending, "", false
		e.pending = append(e.pending, tr)
		if pauser != nil {
			pauser.OnTrialAdd(tr.ID)
		}
	}
	if pauser != nil && !e.searching() {
		pauser.OnNoMoreTrials()
	}
	if err := e.save(); err != nil {
		return err
	}
	e.events = make(chan event, 4*e.tc.MaxConcurrentTrials+2)
	e.requeued = map[string]bool{}
	var slots []*slot
	defer func() {
		for _, s := range slots {
			_ = ray.Kill(context.WithoutCancel(ctx), s.h, true)
		}
	}()
	var budget <-chan time.Time
	if e.tc.TimeBudget > 0 {
		t := time.NewTimer(e.tc.TimeBudget - time.Since(e.start))
		defer t.Stop()
		budget = t.C
	}
	overBudget, running := false, 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if pauser != nil {
			e.settlePaused(pauser, overBudget)
		}
		// Start trials on idle runners (new ones up to the limit).
		for !overBudget && e.hasNext() {
			var s *slot
			for _, x := range slots {
				if x.cur == nil {
					s = x
					break
				}
			}
			if s == nil && len(slots) < e.tc.MaxConcurrentTrials {
				h, err := newRunner(ctx, e.tc)
				if err != nil {
					return err
				}
				s = &slot{h: h}
				slots = append(slots, s)
			}
			if s == nil {
				break
			}
			if err := e.launch(ctx, s, e.next(pauser)); err != nil {
				return err
			}
			running++
		}
		// Every runner busy: queue the next pending trial behind each run.
		for _, s := range slots {
			if overBudget || !e.prefetch() || s.cur == nil || s.queued != nil {
				continue
			}
			if err := e.launch(ctx, s, e.next(pauser)); err != nil {
				return err
			}
			running++
		}
		if running == 0 && (!e.hasNext() || overBudget) {
			if len(e.paused) == 0 {
				e.progress(true)
				return nil
			}
			// Nothing runs and nothing will: the scheduler still holds
			// paused trials it will never resume (it waits for trials that
			// cannot come). They end where they are.
			for _, tr := range e.paused {
				tr.Status, tr.Stopped = Terminated, true
				e.tc.Scheduler.OnComplete(tr.ID)
				e.searched(tr)
			}
			e.paused = nil
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-budget:
			overBudget = true
			for _, s := range slots {
				for _, l := range []*launch{s.cur, s.queued} {
					if l != nil && !l.trial.Stopped {
						l.trial.Stopped = true
						l.stop.Store(true)
					}
				}
				if l := s.queued; l != nil && !l.started {
					// It must not start now (it goes back to PENDING, see
					// end); if it already has, its first report stops it.
					_ = runnerCancel.Remote(ctx, l.h, cancelArgs{Trial: l.trial.ID, Run: l.gen})
				}
			}
		case <-tick.C:
		case ev := <-e.events:
			if ev.l != ev.s.cur && ev.l != ev.s.queued {
				if !ev.done {
					ev.l.decided <- true // a launch the slot gave up: its watcher ends
				}
				continue
			}
			if !ev.done {
				stop := false
				ev.l.started = true
				for _, r := range ev.results {
					stop = e.result(ev.l, r) || stop
				}
				ev.l.decided <- stop
				break
			}
			ended, err := e.end(ctx, ev.s, ev.l, ev.finished, ev.err, overBudget)
			if err != nil {
				return err
			}
			if ended {
				running--
			}
		}
		if time.Since(e.lastSave) > saveInterval {
			if err := e.save(); err != nil {
				return err
			}
		}
		e.progress(false)
	}
}

// rewind takes a trial back to its latest checkpoint (or its start): the
// results after it are dropped, as its next run makes them again. It
// reports whether it dropped any.
func rewind(tr *TrialResult) bool {
	n := len(tr.History)
	keep := 0
	if ck := tr.Checkpoint; ck != nil {
		for keep < len(tr.History) && tr.History[keep]["training_iteration"] <= ck.Metrics["training_iteration"] {
			keep++
		}
	}
	tr.History, tr.Metrics = tr.History[:keep], nil
	if keep > 0 {
		tr.Metrics = tr.History[keep-1]
	}
	return keep < n
}

// prefetch says the next trial may be queued on a busy runner before a
// runner is free: the trials are made up front and the scheduler neither
// pauses nor exploits (those decide what runs next as trials end). The
// runner starts the queued run the moment its run returns, saving the
// trip to the tuner and back between trials.
func (e *executor) prefetch() bool {
	if noPipeline {
		return false
	}
	switch e.tc.Scheduler.(type) {
	case Pauser, Exploiter:
		return false
	}
	return e.tc.SearchAlg == nil && len(e.pending) > 0
}

// noWait says no result can stop a trial (FIFO, no stop criteria, no
// time budget): Report need not wait for the tuner's decision, which is
// always to go on. The trial runs on while its result travels, and the
// next queued trial starts the moment it returns.
func (e *executor) noWait() bool {
	if noPipeline {
		return false
	}
	_, fifo := e.tc.Scheduler.(FIFO)
	return fifo && len(e.rc.Stop) == 0 && e.tc.TimeBudget == 0
}

// noPipeline turns prefetch and noWait off (the overhead benchmark
// compares).
var noPipeline bool

// newRunner starts a runner actor: concurrency for a run, a queued run
// waiting behind it, a poll of each, and a cancel.
func newRunner(ctx context.Context, tc TuneConfig) (ray.ActorHandle[runner], error) {
	return runnerClass.Remote(ctx, ray.Resources(tc.ResourcesPerTrial), ray.MaxConcurrency(5))
}

// searching says the searcher will make more trials.
func (e *executor) searching() bool {
	return e.tc.SearchAlg != nil && len(e.exp.Trials) < max(e.tc.NumSamples, 1)
}

// hasNext says a trial is waiting to start.
func (e *executor) hasNext() bool {
	return len(e.resumable) > 0 || len(e.pending) > 0 || e.searching()
}

// next is the trial to start: a paused one its scheduler resumed first
// (it holds progress), then the pending ones in order, then a new one
// from the searcher.
func (e *executor) next(pauser Pauser) *TrialResult {
	var tr *TrialResult
	switch {
	case len(e.resumable) > 0:
		tr, e.resumable = e.resumable[0], e.resumable[1:]
	case len(e.pending) > 0:
		tr, e.pending = e.pending[0], e.pending[1:]
	default:
		n := len(e.exp.Trials)
		tr = &TrialResult{ID: trialID(n), Config: e.tc.SearchAlg.Suggest(n), Status: Pending}
		e.exp.Trials = append(e.exp.Trials, tr)
		if pauser != nil {
			pauser.OnTrialAdd(tr.ID)
			if !e.searching() {
				pauser.OnNoMoreTrials()
			}
		}
	}
	return tr
}

// settlePaused asks the scheduler about its paused trials: resumed ones
// queue to run again, stopped ones end (which may settle others).
func (e *executor) settlePaused(p Pauser, overBudget bool) {
	for changed := true; changed; {
		changed = false
		kept := e.paused[:0]
		for _, tr := range e.paused {
			d := p.Paused(tr.ID)
			switch {
			case overBudget || d == Stop:
				tr.Status, tr.Stopped = Terminated, true
				p.OnComplete(tr.ID)
				e.searched(tr)
				changed = true
			case d == Continue:
				if rewind(tr) {
					// It paused past its latest checkpoint: the results
					// since will come again.
					_ = e.rewriteResults(tr)
				}
				if err := e.exploitPaused(tr); err != nil {
					tr.Status, tr.Error = Errored, err.Error()
					p.OnComplete(tr.ID)
					e.searched(tr)
					changed = true
					continue
				}
				e.resumable = append(e.resumable, tr)
				changed = true
			default:
				kept = append(kept, tr)
			}
		}
		e.paused = kept
	}
}

// searched tells the searcher that tr ended.
func (e *executor) searched(tr *TrialResult) {
	if e.tc.SearchAlg == nil {
		return
	}
	v, ok := tr.Metrics[e.tc.Metric]
	if e.tc.Mode == "min" {
		v = -v
	}
	e.tc.SearchAlg.OnTrialComplete(tr.Config, v, ok && tr.Status == Terminated)
}

// watch brings the trial's results to the main loop as they come (long
// polls), waiting for its decision on each batch, until the run ends;
// then it tells the main loop of the end (out), after the last results,
// so that a trial's results are all recorded before it ends.
func (e *executor) watch(ctx context.Context, s *slot, l *launch, done <-chan struct{}, out *runOutcome) {
	defer func() {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
		select {
		case e.events <- event{s: s, l: l, done: true, finished: out.finished, err: out.err}:
		case <-ctx.Done():
		}
	}()
	h, trial := l.h, l.trial.ID
	ack, final := false, false
	for {
		p, err := ray.Get(ctx, runnerPoll.Remote(ctx, h, pollArgs{Trial: trial, Run: l.gen, Ack: ack, Stop: l.stop.Load(), Final: final}))
		ack = false
		if err != nil {
			return // the run's end says why
		}
		if len(p.Results) == 0 {
			if p.Ended || final {
				return
			}
			select {
			case <-done:
				// The run returned after this poll looked: its last
				// results may have come since. One more look, at once.
				final = true
			default:
			}
			continue
		}
		select {
		case e.events <- event{s: s, l: l, results: p.Results}:
		case <-ctx.Done():
			return
		}
		select {
		case stop := <-l.decided:
			if stop {
				l.stop.Store(true)
			}
			ack = true
		case <-ctx.Done():
			return
		}
		if p.Ended {
			return
		}
	}
}

// runOutcome is what a run returned (read once its done channel closes).
type runOutcome struct {
	finished bool
	err      error
}

// end finishes a launch whose run returned: its trial ended or paused
// (ended true: the slot has room), or PBT starts it again from another
// trial's state.
func (e *executor) end(ctx context.Context, s *slot, l *launch, finished bool, rerr error, overBudget bool) (bool, error) {
	tr := l.trial
	if l == s.cur {
		s.cur, s.queued = s.queued, nil
	} else {
		s.queued = nil
	}
	if x := l.exploit; x != nil && rerr == nil {
		return false, e.restart(ctx, s, tr, x)
	}
	died := rerr != nil && errors.As(rerr, new(*ray.ActorDiedError))
	if died && s.h.ID == l.h.ID {
		// The runner is gone (with this trial, or the trial took its
		// process down): a fresh one takes the slot.
		_ = ray.Kill(context.WithoutCancel(ctx), s.h, true)
		h, err := newRunner(ctx, e.tc)
		if err != nil {
			return true, err
		}
		s.h = h
	}
	switch {
	case died && l.behind && !l.started && !e.requeued[tr.ID]:
		// A queued run that never started, lost with its runner: the
		// trial runs later, as if it had not been queued (once: a trial
		// that takes its runner down before its first report fails the
		// next time).
		e.requeued[tr.ID] = true
		tr.Status = Pending
		e.pending = append([]*TrialResult{tr}, e.pending...)
		return true, nil
	case overBudget && rerr == nil && !l.started && !finished:
		// Queued before the budget ran out and stopped at its first
		// report: it never ran.
		tr.Status, tr.Stopped = Pending, false
		return true, nil
	case rerr != nil:
		tr.Status, tr.Error = Errored, rerr.Error()
	case l.pause && !finished:
		tr.Status = Paused
		e.paused = append(e.paused, tr)
	default:
		tr.Status = Terminated
	}
	if tr.Status != Paused {
		e.tc.Scheduler.OnComplete(tr.ID)
		e.searched(tr)
	}
	return true, nil
}

// launch starts tr on s's runner, from tr's latest checkpoint if it has
// one, with a watcher for its results and one for its end.
func (e *executor) launch(ctx context.Context, s *slot, tr *TrialResult) error {
	cfg, err := json.Marshal(tr.Config)
	if err != nil {
		return fmt.Errorf("tune: trial %s's config: %w", tr.ID, err)
	}
	s.gen++
	l := &launch{gen: s.gen, trial: tr, h: s.h, decided: make(chan bool, 1)}
	if s.cur == nil {
		s.cur = l
	} else {
		s.queued, l.behind = l, true
	}
	tr.Status = Running
	run := runnerRun.Remote(ctx, s.h, runArgs{Trainable: e.trainable, Trial: tr.ID, Run: l.gen, Config: cfg,
		Dir: filepath.Join(e.dir, tr.ID), Resume: tr.Checkpoint, NoWait: e.noWait()})
	done, out := make(chan struct{}), &runOutcome{}
	go func() {
		out.finished, out.err = ray.Get(ctx, run)
		close(done)
	}()
	go e.watch(ctx, s, l, done, out)
	return nil
}

// exploitPaused asks a synchronous PBT what a resumed trial does: it may
// take another paused trial's state, copied now, before the donor runs on.
func (e *executor) exploitPaused(tr *TrialResult) error {
	x, ok := e.tc.Scheduler.(Exploiter)
	if !ok || tr.Checkpoint == nil {
		return nil
	}
	donor, cfg, ok := x.Exploit(tr.ID, int(tr.Checkpoint.Metrics["training_iteration"]), e.trial)
	if !ok || donor.Checkpoint == nil {
		return nil
	}
	return e.adopt(tr, &exploit{donor: donor.Checkpoint, config: cfg})
}

// restart is PBT's exploit and explore: the trial takes a copy of the
// donor's checkpoint as its own latest and the new config, and runs again.
func (e *executor) restart(ctx context.Context, s *slot, tr *TrialResult, x *exploit) error {
	if err := e.adopt(tr, x); err != nil {
		return err
	}
	return e.launch(ctx, s, tr)
}

// adopt makes a copy of the donor's checkpoint the trial's latest, with
// the new config.
func (e *executor) adopt(tr *TrialResult, x *exploit) error {
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
	// The trial's state is now the donor's: so are its latest metrics
	// (the donor may even have been at its last iteration).
	tr.Checkpoint, tr.Config, tr.Metrics = ck, x.config, ck.Metrics
	return nil
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

// result records one result and decides whether the trial goes on: it
// reports whether to stop it (or, under PBT, end this run and start the
// trial again from another trial's state).
func (e *executor) result(l *launch, r result) bool {
	tr := l.trial
	m := r.Metrics
	tr.Metrics = m
	tr.History = append(tr.History, m)
	if r.Checkpoint != nil {
		tr.Checkpoint = r.Checkpoint
	}
	e.appendResult(tr, m)
	if tr.Stopped || l.exploit != nil {
		return true
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
		switch d := e.tc.Scheduler.OnResult(tr.ID, int(m["training_iteration"]), score); {
		case d == Stop:
			stop = true
		case d == Pause && !stop:
			// The run ends here; the trial is not over (see end).
			l.pause = true
			return true
		default:
			if x, ok := e.tc.Scheduler.(Exploiter); ok && !stop {
				if donor, cfg, ok := x.Exploit(tr.ID, int(m["training_iteration"]), e.trial); ok && donor.Checkpoint != nil {
					l.exploit = &exploit{donor: donor.Checkpoint, config: cfg}
					return true // this run ends; the trial starts again from the donor's state
				}
			}
		}
	}
	tr.Stopped = tr.Stopped || stop
	return stop
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
	_, _ = f.Write(resultLine(tr, m))
}

// resultLine is one line of a trial's result.json.
func resultLine(tr *TrialResult, m map[string]float64) []byte {
	b, _ := json.Marshal(map[string]any{"trial_id": tr.ID, "config": tr.Config, "metrics": m})
	return append(b, '\n')
}

// rewriteResults makes the trial's result.json its history (atomically:
// a temporary file renamed over it).
func (e *executor) rewriteResults(tr *TrialResult) error {
	d := filepath.Join(e.dir, tr.ID)
	if _, err := os.Stat(filepath.Join(d, "result.json")); os.IsNotExist(err) && len(tr.History) == 0 {
		return nil
	}
	var b []byte
	for _, m := range tr.History {
		b = append(b, resultLine(tr, m)...)
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(d, "result.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("tune: rewrite %s's results: %w", tr.ID, err)
	}
	return os.Rename(tmp, filepath.Join(d, "result.json"))
}

// progress prints the table every few seconds (and at the end).
func (e *executor) progress(final bool) {
	if e.rc.Progress == nil || (!final && time.Since(e.lastTable) < 5*time.Second) {
		return
	}
	e.lastTable = time.Now()
	// Ray's reporter heads its table with the time and the run's length.
	fmt.Fprintf(e.rc.Progress, "\nCurrent time: %s. Total running time: %s\n", e.lastTable.Format("2006-01-02 15:04:05"),
		e.lastTable.Sub(e.start).Round(time.Second))
	(&ResultGrid{Trials: e.exp.Trials, Metric: e.tc.Metric, Mode: e.tc.Mode}).Table(e.rc.Progress, 20)
}
