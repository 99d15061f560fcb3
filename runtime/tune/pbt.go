package tune

import (
	"math/rand/v2"
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
type PBT struct {
	PerturbationInterval int            // 5 if 0
	Mutations            map[string]any // key → Domain (a GridSearch: its values) or []any
	QuantileFraction     float64        // 0.25 if 0
	ResampleProbability  float64        // 0.25 if 0
	Seed                 uint64
	rng                  *rand.Rand
	scores               map[string]float64
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
	}
}

// OnResult records the trial's score; PBT never stops a trial.
func (p *PBT) OnResult(trial string, iter int, score float64) Decision {
	p.defaults()
	p.scores[trial] = score
	return Continue
}

// OnComplete takes the trial out of the population.
func (p *PBT) OnComplete(trial string) {
	p.defaults()
	delete(p.scores, trial)
}

// Exploit decides at a perturbation interval.
func (p *PBT) Exploit(trial string, iter int, lookup func(id string) *TrialResult) (*TrialResult, Config, bool) {
	p.defaults()
	if iter%p.PerturbationInterval != 0 || len(p.scores) < 2 {
		return nil, nil, false
	}
	ids := make([]string, 0, len(p.scores))
	for id := range p.scores {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if p.scores[ids[i]] != p.scores[ids[j]] {
			return p.scores[ids[i]] < p.scores[ids[j]]
		}
		return ids[i] < ids[j]
	})
	n := max(1, int(float64(len(ids))*p.QuantileFraction))
	bottom, top := ids[:n], ids[len(ids)-n:]
	in := false
	for _, id := range bottom {
		in = in || id == trial
	}
	if !in {
		return nil, nil, false
	}
	donor := lookup(top[p.rng.IntN(len(top))])
	if donor == nil || donor.ID == trial || donor.Checkpoint == nil {
		return nil, nil, false
	}
	return donor, p.explore(donor.Config), true
}

// explore mutates a copy of cfg.
func (p *PBT) explore(cfg Config) Config {
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
			if i < 0 || p.rng.Float64() < p.ResampleProbability {
				out[k] = m[p.rng.IntN(len(m))]
			} else {
				out[k] = m[max(0, min(len(m)-1, i+[]int{-1, 1}[p.rng.IntN(2)]))]
			}
		case Domain:
			x, isNum := toFloat(out[k])
			if !isNum || p.rng.Float64() < p.ResampleProbability {
				out[k] = m.sample(p.rng, out)
				continue
			}
			factor := []float64{0.8, 1.2}[p.rng.IntN(2)]
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
