package tune

import (
	"math"
	"sort"
)

// HyperBand is synchronous HyperBand (Li et al. 2017; Ray's
// HyperBandScheduler): trials are dealt, in the order they are made, into
// brackets of successive halving. Bracket s (s = 0, 1, ... up to
// round(log_η MaxT), then again in a new band) takes up to
// ⌈(s_max+1)/(s+1)·η^s⌉ trials and runs each to its first milestone,
// ⌊MaxT·η^-s⌋ iterations; a trial reaching the milestone pauses (its run
// ends, it holds no resources) until every trial of the bracket has
// reached it, then the best ⌈n/η⌉ by their score there resume from their
// checkpoints towards the next milestone (η times further; the last is
// MaxT) and the others stop. A trial reaching MaxT stops. η is
// ReductionFactor.
//
// Trials must checkpoint (at least at the milestones) to resume where they
// paused; one without a checkpoint starts again from iteration 1. Ray's
// last milestone can fall short of MaxT (it caps the milestone at MaxT
// minus the previous one); here the milestones are r0·η^k and the last is
// MaxT, as in the paper.
type HyperBand struct {
	MaxT            int     // 81 if 0
	ReductionFactor float64 // 3 if 0
	brackets        []*bracket
	inBand          int // brackets made in the current band
	of              map[string]*bracket
	noMore          bool
}

// bracket is one run of successive halving.
type bracket struct {
	s, size   int // size: the trials it takes
	keep      int // trials the round's milestone keeps
	milestone int
	halvings  int // halvings left
	added     int
	halved    bool                // once halved, no trial joins
	live      map[string]*hbTrial // trials not stopped or ended
	order     []string            // live trials as added (ties in ranking)
	decided   map[string]Decision // paused trials to resume or stop
}

type hbTrial struct {
	iter  int
	score float64
}

func (h *HyperBand) defaults() {
	if h.MaxT <= 0 {
		h.MaxT = 81
	}
	if h.ReductionFactor <= 1 {
		h.ReductionFactor = 3
	}
	if h.of == nil {
		h.of = map[string]*bracket{}
	}
}

// sMax1 is the number of brackets in a band.
func (h *HyperBand) sMax1() int {
	return int(math.Round(math.Log(float64(h.MaxT))/math.Log(h.ReductionFactor))) + 1
}

// OnTrialAdd puts the trial in the current bracket, or a new one when it
// is full (or already halving).
func (h *HyperBand) OnTrialAdd(trial string) {
	h.defaults()
	var b *bracket
	if n := len(h.brackets); n > 0 {
		b = h.brackets[n-1]
	}
	for b == nil || b.added == b.size || b.halved {
		if h.inBand == h.sMax1() {
			h.inBand = 0
		}
		s := h.inBand
		h.inBand++
		eta := h.ReductionFactor
		r0 := int(float64(h.MaxT) * math.Pow(eta, -float64(s)))
		if r0 == 0 {
			continue // a bracket whose first milestone is under one iteration
		}
		b = &bracket{s: s, size: int(math.Ceil(float64(h.sMax1()) / float64(s+1) * math.Pow(eta, float64(s)))),
			milestone: r0, halvings: s, live: map[string]*hbTrial{}, decided: map[string]Decision{}}
		b.keep = b.size
		h.brackets = append(h.brackets, b)
	}
	b.added++
	b.live[trial] = &hbTrial{score: math.Inf(-1)}
	b.order = append(b.order, trial)
	h.of[trial] = b
}

// OnNoMoreTrials lets brackets short of trials halve with those they have.
func (h *HyperBand) OnNoMoreTrials() {
	h.defaults()
	h.noMore = true
	for _, b := range h.brackets {
		if b.roundDone(h) {
			h.process(b, "")
		}
	}
}

// OnResult lets the trial go on below its bracket's milestone; at it, the
// trial pauses until its bracket's round is done, or the round is done
// and it goes on or stops with the others.
func (h *HyperBand) OnResult(trial string, iter int, score float64) Decision {
	h.defaults()
	b := h.of[trial]
	if b == nil || b.live[trial] == nil {
		return Stop // stopped by a halving while its result was on the way
	}
	t := b.live[trial]
	t.iter, t.score = iter, score
	if iter >= h.MaxT {
		h.remove(b, trial)
		if b.roundDone(h) {
			h.process(b, "")
		}
		return Stop
	}
	if iter < b.milestone {
		return Continue
	}
	if !b.roundDone(h) {
		return Pause
	}
	return h.process(b, trial)
}

// roundDone says every live trial of the bracket reached its milestone
// and no trial will join it.
func (b *bracket) roundDone(h *HyperBand) bool {
	if len(b.live) == 0 || (b.added < b.size && !b.halved && !h.noMore) {
		return false
	}
	for _, t := range b.live {
		if t.iter < b.milestone {
			return false
		}
	}
	return true
}

// process halves the bracket at the end of a round: the best keep/η go
// on to the next milestone, the rest stop (after the last halving, all
// stop: a round at MaxT; trials reaching MaxT stop at once, so only a
// trial whose results skipped past it ends a round there). current is the trial whose
// result ended the round (running; "" when none is): its decision is
// returned, the paused trials' are kept for Paused.
func (h *HyperBand) process(b *bracket, current string) Decision {
	var good, bad []string
	if b.halvings == 0 {
		bad = append(bad, b.order...) // the last round: all end here
	} else {
		b.halvings--
		b.halved = true
		b.keep = int(math.Ceil(float64(b.keep) / h.ReductionFactor))
		b.milestone = min(int(float64(b.milestone)*h.ReductionFactor), h.MaxT)
		if b.halvings == 0 {
			// The last round runs to MaxT (r0·η^s falls short of it when
			// MaxT is not a power of η).
			b.milestone = h.MaxT
		}
		ranked := append([]string(nil), b.order...)
		sort.SliceStable(ranked, func(i, j int) bool { return b.live[ranked[i]].score > b.live[ranked[j]].score })
		k := min(b.keep, len(ranked))
		good, bad = ranked[:k], ranked[k:]
	}
	d := Pause
	for _, t := range bad {
		h.remove(b, t)
		if t == current {
			d = Stop
		} else {
			b.decided[t] = Stop
		}
	}
	for _, t := range good {
		if t == current {
			d = Continue
		} else {
			b.decided[t] = Continue
		}
	}
	return d
}

func (h *HyperBand) remove(b *bracket, trial string) {
	delete(b.live, trial)
	for i, t := range b.order {
		if t == trial {
			b.order = append(b.order[:i:i], b.order[i+1:]...)
			break
		}
	}
}

// Paused says whether a paused trial resumes, stops or waits.
func (h *HyperBand) Paused(trial string) Decision {
	h.defaults()
	b := h.of[trial]
	if b == nil {
		return Stop
	}
	d, ok := b.decided[trial]
	if !ok {
		return Pause
	}
	delete(b.decided, trial)
	return d
}

// OnComplete takes an ended trial out of its bracket, which may end the
// round for the others.
func (h *HyperBand) OnComplete(trial string) {
	h.defaults()
	b := h.of[trial]
	if b == nil {
		return
	}
	delete(b.decided, trial)
	if b.live[trial] == nil {
		return
	}
	h.remove(b, trial)
	if b.roundDone(h) {
		h.process(b, "")
	}
}
