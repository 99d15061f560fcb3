package tune

import (
	"math/rand/v2"
	"slices"
	"sort"
)

// Exploiter is a scheduler that may also move a trial to another trial's
// state (PBT): after a result it does not stop, the tuner asks it, and a
// donor means the trial's run ends and it starts again from a copy of the
// donor's latest checkpoint with the config given. trial looks up any
// trial's state so far.
type Exploiter interface {
	Scheduler
	Exploit(trial string, iter int, lookup func(id string) *TrialResult) (donor *TrialResult, cfg Config, ok bool)
}

// PBT is population-based training (Ray's PopulationBasedTraining): every
// PerturbationInterval iterations, a trial in the bottom QuantileFraction of
// the population (by last score) takes the state of a trial in the top
// fraction (exploit) and a mutated copy of its config (explore): each key
// of Mutations is drawn again from its domain (a Domain, or a list of
// values) with ResampleProbability, else a number is multiplied by 0.8 or
// 1.2 and a list value moves to a neighbour. Trials must checkpoint.
//
// By default PBT is asynchronous, as Ray's: a trial at an interval
// compares its score with the others' latest, wherever they are, so what
// it does depends on how fast each trial runs. With Synch (Ray's synch),
// a trial at an interval pauses — holding no resources, so trials still
// pending start — until every trial of the population is paused at the
// same interval; then the bottom fraction takes the top's states, all
// decided at once from scores at the same iteration, and all resume. With
// a Seed, a synchronous run decides the same way every time.
type PBT struct {
	PerturbationInterval int            // 5 if 0
	Mutations            map[string]any // key → Domain (a GridSearch: its values) or []any
	QuantileFraction     float64        // 0.25 if 0
	ResampleProbability  float64        // 0.25 if 0
	Synch                bool
	Seed                 uint64
	rng                  *rand.Rand
	scores               map[string]float64
	// Synch: the trials made and not ended, those paused (at which
	// iteration), those of them whose run has ended (parked), and the last
	// round's exploits.
	live    map[string]bool
	waiting map[string]int
	parked  map[string]bool
	planned map[string]plannedExploit
}

// plannedExploit is a synchronous round's decision for one trial.
type plannedExploit struct {
	donor string
	seed  uint64 // explores the donor's config (drawn in the round's order)
}

func (p *PBT) defaults() {
	if p.PerturbationInterval <= 0 {
		p.PerturbationInterval = 5
	}
	if p.QuantileFraction <= 0 || p.QuantileFraction > 0.5 {
		p.QuantileFraction = 0.25
	}
	if p.ResampleProbability <= 0 {
		p.ResampleProbability = 0.25
	}
	if p.rng == nil {
		p.rng = rand.New(rand.NewPCG(p.Seed, p.Seed+1))
	}
	if p.scores == nil {
		p.scores = map[string]float64{}
		p.live, p.waiting, p.parked, p.planned = map[string]bool{}, map[string]int{}, map[string]bool{}, map[string]plannedExploit{}
	}
}

// OnTrialAdd says a trial joins the population (Synch waits for it).
func (p *PBT) OnTrialAdd(trial string) {
	p.defaults()
	p.live[trial] = true
}

// OnNoMoreTrials does nothing: the population is the trials made.
func (p *PBT) OnNoMoreTrials() {}

// OnResult records the trial's score; PBT never stops a trial. With
// Synch, a trial at an interval pauses (unless it is alone).
func (p *PBT) OnResult(trial string, iter int, score float64) Decision {
	p.defaults()
	p.scores[trial] = score
	delete(p.planned, trial) // a plan is for the resume before any result
	if p.Synch && iter%p.PerturbationInterval == 0 && len(p.live) > 1 {
		p.waiting[trial] = iter
		return Pause
	}
	return Continue
}

// OnComplete takes the trial out of the population.
func (p *PBT) OnComplete(trial string) {
	p.defaults()
	delete(p.scores, trial)
	delete(p.live, trial)
	delete(p.waiting, trial)
	delete(p.parked, trial)
	delete(p.planned, trial)
}

// Paused resumes a paused trial once every trial of the population is
// paused at the same interval (the round is decided then, see Exploit).
// The tuner asks only of trials whose run has ended, so the round waits for
// every run to have ended: a donor then has its state at the interval, not
// one a resumed run has gone on from.
func (p *PBT) Paused(trial string) Decision {
	p.defaults()
	if _, ok := p.waiting[trial]; ok {
		p.parked[trial] = true
		if !p.roundReady() {
			return Pause
		}
		p.planRound()
	}
	return Continue
}

// roundReady says every live trial is paused, its run ended, at the same
// iteration.
func (p *PBT) roundReady() bool {
	at := -1
	for id := range p.live {
		it, ok := p.waiting[id]
		if !ok || !p.parked[id] || (at >= 0 && it != at) {
			return false
		}
		at = it
	}
	return at >= 0
}

// planRound decides the round for every waiting trial, in score order
// (ties by id) so that a seeded run draws the same numbers: all resume, a
// bottom trial with its donor and the seed of its mutation.
func (p *PBT) planRound() {
	ids := make([]string, 0, len(p.waiting))
	for id := range p.waiting {
		ids = append(ids, id)
	}
	bottom, top := p.quantiles(ids)
	for _, id := range ids {
		delete(p.waiting, id)
		delete(p.parked, id)
	}
	for _, id := range bottom {
		p.planned[id] = plannedExploit{donor: top[p.rng.IntN(len(top))], seed: p.rng.Uint64()}
	}
}

// quantiles sorts ids by score (ties by id) and gives the bottom and top
// fractions (none when fewer than two).
func (p *PBT) quantiles(ids []string) (bottom, top []string) {
	if len(ids) < 2 {
		return nil, nil
	}
	sort.Slice(ids, func(i, j int) bool {
		if p.scores[ids[i]] != p.scores[ids[j]] {
			return p.scores[ids[i]] < p.scores[ids[j]]
		}
		return ids[i] < ids[j]
	})
	n := max(1, int(float64(len(ids))*p.QuantileFraction))
	return ids[:n], ids[len(ids)-n:]
}

// Exploit decides at a perturbation interval: asynchronously from the
// latest scores, or (Synch) as the round planned for a resumed trial.
func (p *PBT) Exploit(trial string, iter int, lookup func(id string) *TrialResult) (*TrialResult, Config, bool) {
	p.defaults()
	if p.Synch {
		plan, ok := p.planned[trial]
		delete(p.planned, trial)
		if !ok || plan.donor == "" {
			return nil, nil, false
		}
		if donor := lookup(plan.donor); donor != nil && donor.Checkpoint != nil {
			return donor, p.explore(rand.New(rand.NewPCG(plan.seed, plan.seed+1)), donor.Config), true
		}
		return nil, nil, false
	}
	if iter%p.PerturbationInterval != 0 {
		return nil, nil, false
	}
	ids := make([]string, 0, len(p.scores))
	for id := range p.scores {
		ids = append(ids, id)
	}
	bottom, top := p.quantiles(ids)
	if !slices.Contains(bottom, trial) {
		return nil, nil, false
	}
	donor := lookup(top[p.rng.IntN(len(top))])
	if donor == nil || donor.ID == trial || donor.Checkpoint == nil {
		return nil, nil, false
	}
	return donor, p.explore(p.rng, donor.Config), true
}

// explore mutates a copy of cfg, drawing from rng.
func (p *PBT) explore(rng *rand.Rand, cfg Config) Config {
	out := Config{}
	for k, v := range cfg {
		out[k] = v
	}
	keys := make([]string, 0, len(p.Mutations))
	for k := range p.Mutations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mut := p.Mutations[k]
		if g, ok := mut.(grid); ok {
			mut = g.values // a grid's values are a list to move along
		}
		switch m := mut.(type) {
		case []any:
			if len(m) == 0 {
				continue
			}
			i := indexOfValue(m, out[k]) // slices compared by value, numbers as numbers
			if i < 0 || rng.Float64() < p.ResampleProbability {
				out[k] = m[rng.IntN(len(m))]
			} else {
				out[k] = m[max(0, min(len(m)-1, i+[]int{-1, 1}[rng.IntN(2)]))]
			}
		case Domain:
			x, isNum := toFloat(out[k])
			if !isNum || rng.Float64() < p.ResampleProbability {
				out[k] = m.sample(rng, out)
				continue
			}
			factor := []float64{0.8, 1.2}[rng.IntN(2)]
			if _, isInt := out[k].(int); isInt {
				out[k] = int(float64(x) * factor)
			} else {
				out[k] = x * factor
			}
		}
	}
	return out
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}
