package tune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Config is one trial's parameters: the space's constants and a value
// drawn from each of its domains.
type Config map[string]any

// Float is the parameter key as a float64 (ints convert).
func (c Config) Float(key string) float64 {
	switch v := c[key].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	return math.NaN()
}

// Int is the parameter key as an int (whole floats convert).
func (c Config) Int(key string) int {
	switch v := c[key].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return 0
}

// String is the parameter key as a string ("" if it is not one).
func (c Config) String(key string) string {
	s, _ := c[key].(string)
	return s
}

// Space is a parameter space: each key a constant or a Domain (Ray's
// param_space).
type Space map[string]any

// Domain is where a parameter's values come from.
type Domain interface {
	sample(rng *rand.Rand, cfg Config) any
}

type uniform struct{ lo, hi float64 }

func (d uniform) sample(rng *rand.Rand, _ Config) any { return d.lo + rng.Float64()*(d.hi-d.lo) }

// Uniform draws a float uniformly from [lo, hi) (tune.uniform).
func Uniform(lo, hi float64) Domain { return uniform{lo, hi} }

type logUniform struct{ lo, hi float64 }

func (d logUniform) sample(rng *rand.Rand, _ Config) any {
	return math.Exp(math.Log(d.lo) + rng.Float64()*(math.Log(d.hi)-math.Log(d.lo)))
}

// LogUniform draws a float in [lo, hi) uniformly in log space (tune.loguniform); lo > 0.
func LogUniform(lo, hi float64) Domain { return logUniform{lo, hi} }

type quniform struct{ lo, hi, q float64 }

func (d quniform) sample(rng *rand.Rand, _ Config) any {
	v := math.Round((d.lo+rng.Float64()*(d.hi-d.lo))/d.q) * d.q
	return min(max(v, d.lo), d.hi)
}

// QUniform draws uniformly from [lo, hi] rounded to a multiple of q (tune.quniform).
func QUniform(lo, hi, q float64) Domain { return quniform{lo, hi, q} }

type randInt struct{ lo, hi int }

func (d randInt) sample(rng *rand.Rand, _ Config) any { return d.lo + rng.IntN(d.hi-d.lo) }

// RandInt draws an int from [lo, hi) (tune.randint).
func RandInt(lo, hi int) Domain { return randInt{lo, hi} }

type choice struct{ values []any }

func (d choice) sample(rng *rand.Rand, _ Config) any { return d.values[rng.IntN(len(d.values))] }

// Choice draws one of values (tune.choice).
func Choice(values ...any) Domain { return choice{values} }

type sampleFrom struct {
	fn func(cfg Config, rng *rand.Rand) any
}

func (d sampleFrom) sample(rng *rand.Rand, cfg Config) any { return d.fn(cfg, rng) }

// SampleFrom computes a value from the trial's other parameters, drawn
// first (tune.sample_from; several SampleFrom run in key order).
func SampleFrom(fn func(cfg Config, rng *rand.Rand) any) Domain { return sampleFrom{fn} }

// grid is every value in turn: Fit makes a trial per combination of the
// space's grids (times NumSamples).
type grid struct{ values []any }

func (grid) sample(*rand.Rand, Config) any { panic("tune: a grid is expanded, not sampled") }

// GridSearch tries every value (tune.grid_search).
func GridSearch(values ...any) Domain { return grid{values} }

// check rejects a space whose domains cannot be drawn from.
func (s Space) check() error {
	for k, v := range s {
		var bad bool
		switch d := v.(type) {
		case uniform:
			bad = !(d.lo < d.hi)
		case logUniform:
			bad = !(0 < d.lo && d.lo < d.hi)
		case quniform:
			bad = !(d.lo <= d.hi && d.q > 0)
		case randInt:
			bad = d.lo >= d.hi
		case choice:
			bad = len(d.values) == 0
		case grid:
			bad = len(d.values) == 0
		case sampleFrom:
			bad = d.fn == nil
		}
		if bad {
			return fmt.Errorf("tune: parameter %q: an empty domain", k)
		}
	}
	return nil
}

// variants are the configs of a space (Ray's BasicVariantGenerator): for
// each of samples, every combination of the grids in key order, the other
// domains drawn afresh for each, from rng.
func (s Space) variants(samples int, rng *rand.Rand) []Config {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var grids []string
	for _, k := range keys {
		if _, ok := s[k].(grid); ok {
			grids = append(grids, k)
		}
	}
	points := []Config{{}}
	for _, k := range grids {
		var next []Config
		for _, p := range points {
			for _, v := range s[k].(grid).values {
				q := Config{}
				for pk, pv := range p {
					q[pk] = pv
				}
				q[k] = v
				next = append(next, q)
			}
		}
		points = next
	}
	var out []Config
	for range max(samples, 1) {
		for _, p := range points {
			c := Config{}
			for k, v := range p {
				c[k] = v
			}
			for _, k := range keys {
				if slices.Contains(grids, k) {
					continue
				}
				if _, ok := s[k].(sampleFrom); ok {
					continue
				}
				if d, ok := s[k].(Domain); ok {
					c[k] = d.sample(rng, c)
				} else {
					c[k] = s[k]
				}
			}
			for _, k := range keys {
				if d, ok := s[k].(sampleFrom); ok {
					c[k] = d.sample(rng, c)
				}
			}
			out = append(out, c)
		}
	}
	return out
}
