package tune

import (
	"math"
	"slices"
	"sort"
)

// Decision is what a scheduler says of a trial after a result.
type Decision int

// The decisions.
const (
	Continue Decision = iota
	Stop
	// Pause ends the trial's run but not the trial: it waits, holding no
	// resources, until its scheduler (a Pauser) resumes it from its latest
	// checkpoint or stops it.
	Pause
)

// Scheduler decides, result by result, which trials go on (Ray's trial
// schedulers). Scores are oriented: higher is better (the tuner negates a
// "min" metric). Calls come from one goroutine.
type Scheduler interface {
	// OnResult is trial's result at iteration iter (1, 2, ...).
	OnResult(trial string, iter int, score float64) Decision
	// OnComplete says trial ended (finished, stopped or failed).
	OnComplete(trial string)
}

// Pauser is a scheduler that pauses trials (OnResult says Pause) and
// later resumes or stops them (Ray's HyperBandScheduler, with its PAUSE and
// choose_trial_to_run). The tuner tells it of every trial before the trial
// runs, and asks, after each event, what becomes of the trials it paused.
type Pauser interface {
	Scheduler
	// OnTrialAdd says a trial exists (in the order trials are made).
	OnTrialAdd(trial string)
	// OnNoMoreTrials says no trial will be added.
	OnNoMoreTrials()
	// Paused is what becomes of a paused trial: Pause (it waits),
	// Continue (it runs again from its latest checkpoint) or Stop (it
	// ends). Continue and Stop are said once.
	Paused(trial string) Decision
}

// FIFO runs every trial to its end (Ray's FIFOScheduler).
type FIFO struct{}

// OnResult always continues.
func (FIFO) OnResult(string, int, float64) Decision { return Continue }

// OnComplete does nothing.
func (FIFO) OnComplete(string) {}

// ASHA is asynchronous successive halving (Ray's ASHAScheduler with one
// bracket): at each rung — iterations GracePeriod × ReductionFactor^k up to
// MaxT — a trial goes on only if its score is in the top 1/ReductionFactor
// of the scores recorded at that rung so far; every trial stops at MaxT.
type ASHA struct {
	MaxT            int     // 100 if 0
	GracePeriod     int     // 1 if 0
	ReductionFactor float64 // 4 if 0
	rungs           map[int][]float64
}

func (a *ASHA) defaults() {
	if a.MaxT <= 0 {
		a.MaxT = 100
	}
	if a.GracePeriod <= 0 {
		a.GracePeriod = 1
	}
	if a.ReductionFactor <= 1 {
		a.ReductionFactor = 4
	}
	if a.rungs == nil {
		a.rungs = map[int][]float64{}
	}
}

// milestones are the rungs' iterations, highest first.
func (a *ASHA) milestones() []int {
	var out []int
	for r := float64(a.GracePeriod); int(r) < a.MaxT; r *= a.ReductionFactor {
		out = append(out, int(r))
	}
	slices.Reverse(out)
	return out
}

// OnResult records the score at a rung and stops the trial if it is below
// the rung's cutoff (or at MaxT).
func (a *ASHA) OnResult(trial string, iter int, score float64) Decision {
	a.defaults()
	if iter >= a.MaxT {
		return Stop
	}
	for _, m := range a.milestones() {
		if iter != m {
			continue
		}
		a.rungs[m] = append(a.rungs[m], score)
		if cutoff := percentile(a.rungs[m], 1-1/a.ReductionFactor); score < cutoff {
			return Stop
		}
	}
	return Continue
}

// OnComplete does nothing: rungs keep what they recorded.
func (a *ASHA) OnComplete(string) {}

// percentile is the q-th quantile of xs with linear interpolation (numpy's
// default, as Ray's cutoff uses).
func percentile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	i := int(math.Floor(pos))
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// MedianStopping stops a trial whose best score so far is below the median
// of the other trials' running means at the same iteration (Ray's
// MedianStoppingRule), after GracePeriod iterations and once MinSamples
// trials have reached it.
type MedianStopping struct {
	GracePeriod int // 1 if 0
	MinSamples  int // 3 if 0
	scores      map[string][]float64
}

// OnResult applies the rule.
func (m *MedianStopping) OnResult(trial string, iter int, score float64) Decision {
	if m.GracePeriod <= 0 {
		m.GracePeriod = 1
	}
	if m.MinSamples <= 0 {
		m.MinSamples = 3
	}
	if m.scores == nil {
		m.scores = map[string][]float64{}
	}
	m.scores[trial] = append(m.scores[trial], score)
	if iter < m.GracePeriod {
		return Continue
	}
	var means []float64
	for t, s := range m.scores {
		if t == trial || len(s) < iter {
			continue
		}
		sum := 0.0
		for _, x := range s[:iter] {
			sum += x
		}
		means = append(means, sum/float64(iter))
	}
	if len(means)+1 < m.MinSamples {
		return Continue
	}
	if slices.Max(m.scores[trial]) < percentile(means, 0.5) {
		return Stop
	}
	return Continue
}

// OnComplete does nothing: a completed trial's scores still count.
func (m *MedianStopping) OnComplete(string) {}
