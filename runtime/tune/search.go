package tune

import (
	"fmt"
	"math/rand/v2"
	"sort"
)

// Searcher suggests the configs of new trials from the results of the
// trials that ended (Ray's Searcher, set as TuneConfig.SearchAlg). With a
// searcher, NumSamples is the number of trials in all and the tuner asks
// for each trial's config when the trial is about to start, so later
// trials learn from earlier ones. Calls come from one goroutine.
type Searcher interface {
	// Setup gives the searcher the experiment's space (before any
	// Suggest); it rejects a space it cannot search.
	Setup(space Space) error
	// Suggest is the config of trial number n (0, 1, ...).
	Suggest(n int) Config
	// OnTrialComplete says a trial ended: its config and its last score
	// (the metric, oriented: higher is better); ok is false when it
	// failed or never reported the metric.
	OnTrialComplete(cfg Config, score float64, ok bool)
}

// param is one key of a space as a searcher sees it.
type param struct {
	key string
	// dom is the key's domain; nil for a constant (val).
	dom Domain
	val any
}

// params lists a space's keys in order, SampleFrom last (they are
// computed from the others, not searched).
func (s Space) params() []param {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out, derived []param
	for _, k := range keys {
		switch d := s[k].(type) {
		case sampleFrom:
			derived = append(derived, param{key: k, dom: d})
		case Domain:
			out = append(out, param{key: k, dom: d})
		default:
			out = append(out, param{key: k, val: s[k]})
		}
	}
	return append(out, derived...)
}

// sampleConfig draws a whole config from the space's priors (grids count
// as a choice among their values: a searcher does not expand them).
func sampleConfig(ps []param, rng *rand.Rand) Config {
	c := Config{}
	for _, p := range ps {
		switch d := p.dom.(type) {
		case nil:
			c[p.key] = p.val
		case grid:
			c[p.key] = d.values[rng.IntN(len(d.values))]
		default:
			c[p.key] = d.sample(rng, c)
		}
	}
	return c
}

// checkSearchable rejects domains a searcher cannot model.
func checkSearchable(s Space) error {
	if err := s.check(); err != nil {
		return err
	}
	for k, v := range s {
		if _, ok := v.(Domain); !ok {
			continue
		}
		switch v.(type) {
		case uniform, logUniform, quniform, randInt, choice, grid, sampleFrom:
		default:
			return fmt.Errorf("tune: parameter %q: a domain of type %T cannot be searched", k, v)
		}
	}
	return nil
}
