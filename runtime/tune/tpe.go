package tune

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
)

// TPE is the Tree-structured Parzen Estimator (Bergstra et al. 2011; the
// algorithm of HyperOpt's tpe.suggest and Optuna's TPESampler, in Ray
// behind HyperOptSearch and OptunaSearch). Its first NumStartup trials are
// drawn from the space; after that, the trials that ended are split into
// the best ones (the top ⌈10%⌉, at most 25) and the rest, each parameter's
// values in each part are smoothed into a density, l(x) for the best and
// g(x) for the rest, and the next trial takes, for each parameter,
// whichever of NumCandidates values drawn from l has the highest l(x)/g(x).
//
// Uniform, LogUniform (searched in log space), QUniform and RandInt (a
// density over the range, its mass taken on each value's interval) and
// Choice are modelled; a GridSearch is a choice among its values (a
// searcher does not expand grids); SampleFrom is computed from the others;
// constants are copied. Parameters are modelled independently, as in
// Optuna's default.
//
// Deterministic: trial n's config depends only on Seed, n and the trials
// that ended before it was asked for, in the order they ended (with
// MaxConcurrentTrials 1 a whole experiment repeats exactly).
type TPE struct {
	// NumStartup trials are drawn at random before the model is used (10 if 0).
	NumStartup int
	// NumCandidates is how many values are drawn from l per parameter (24 if 0).
	NumCandidates int
	Seed          uint64
	ps            []param
	obs           []observation
}

type observation struct {
	cfg   Config
	score float64
}

// Setup takes the space.
func (t *TPE) Setup(space Space) error {
	if err := checkSearchable(space); err != nil {
		return err
	}
	t.ps = space.params()
	if t.NumStartup <= 0 {
		t.NumStartup = 10
	}
	if t.NumCandidates <= 0 {
		t.NumCandidates = 24
	}
	return nil
}

// OnTrialComplete records a trial's final score.
func (t *TPE) OnTrialComplete(cfg Config, score float64, ok bool) {
	if ok && !math.IsNaN(score) && !math.IsInf(score, 0) {
		t.obs = append(t.obs, observation{cfg, score})
	}
}

// Suggest is trial n's config.
func (t *TPE) Suggest(n int) Config {
	// A generator of its own per trial: the n-th suggestion does not
	// depend on how many draws the earlier ones took.
	rng := rand.New(rand.NewPCG(t.Seed, uint64(n)^0x5851f42d4c957f2d))
	if len(t.obs) < t.NumStartup {
		return sampleConfig(t.ps, rng)
	}
	// The best first; ties by the order they ended, so the split is
	// deterministic.
	order := make([]int, len(t.obs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return t.obs[order[i]].score > t.obs[order[j]].score })
	nBelow := min(int(math.Ceil(0.1*float64(len(t.obs)))), 25)
	below, above := order[:nBelow], order[nBelow:]
	// Observations in the order they ended, for the weights (older ones
	// count less once there are many).
	sort.Ints(below)
	sort.Ints(above)
	c := Config{}
	for _, p := range t.ps {
		switch d := p.dom.(type) {
		case nil:
			c[p.key] = p.val
		case sampleFrom:
			c[p.key] = d.sample(rng, c)
		case choice:
			c[p.key] = t.suggestCategorical(p.key, d.values, below, above, rng)
		case grid:
			c[p.key] = t.suggestCategorical(p.key, d.values, below, above, rng)
		default:
			c[p.key] = t.suggestNumeric(p.key, d, below, above, rng)
		}
	}
	return c
}

// numeric is how a numeric domain maps to the line the densities live on.
type numeric struct {
	a, b float64 // the range on the line
	// half is half a value's interval for a discrete domain (0: continuous).
	half     float64
	toLine   func(v float64) float64
	fromLine func(x float64) any
}

func numericOf(d Domain) numeric {
	id := func(v float64) float64 { return v }
	switch d := d.(type) {
	case uniform:
		return numeric{a: d.lo, b: d.hi, toLine: id, fromLine: func(x float64) any { return min(max(x, d.lo), d.hi) }}
	case logUniform:
		la, lb := math.Log(d.lo), math.Log(d.hi)
		return numeric{a: la, b: lb, toLine: math.Log, fromLine: func(x float64) any { return math.Exp(min(max(x, la), lb)) }}
	case quniform:
		return numeric{a: d.lo - d.q/2, b: d.hi + d.q/2, half: d.q / 2, toLine: id, fromLine: func(x float64) any {
			return min(max(math.Round(x/d.q)*d.q, d.lo), d.hi)
		}}
	case randInt:
		return numeric{a: float64(d.lo) - 0.5, b: float64(d.hi) - 0.5, half: 0.5, toLine: id, fromLine: func(x float64) any {
			return min(max(int(math.Round(x)), d.lo), d.hi-1)
		}}
	}
	panic("tune: not a numeric domain")
}

func (t *TPE) suggestNumeric(key string, d Domain, below, above []int, rng *rand.Rand) any {
	nm := numericOf(d)
	line := func(idx []int) []float64 {
		var xs []float64
		for _, i := range idx {
			if v, ok := toFloat(t.obs[i].cfg[key]); ok {
				xs = append(xs, nm.toLine(v))
			}
		}
		return xs
	}
	l := newParzen(line(below), weightsOf(len(line(below))), nm.a, nm.b)
	g := newParzen(line(above), weightsOf(len(line(above))), nm.a, nm.b)
	var best any
	bestScore := math.Inf(-1)
	for range t.NumCandidates {
		v := nm.fromLine(l.sample(rng))
		f, _ := toFloat(v)
		x := nm.toLine(f)
		var s float64
		if nm.half > 0 {
			s = l.logMass(x-nm.half, x+nm.half) - g.logMass(x-nm.half, x+nm.half)
		} else {
			s = l.logPDF(x) - g.logPDF(x)
		}
		if best == nil || s > bestScore {
			best, bestScore = v, s
		}
	}
	return best
}

func (t *TPE) suggestCategorical(key string, values []any, below, above []int, rng *rand.Rand) any {
	probs := func(idx []int) []float64 {
		w := weightsOf(len(idx))
		// The prior: a weight of 1 spread over the values.
		p := make([]float64, len(values))
		for i := range p {
			p[i] = 1 / float64(len(values))
		}
		for j, i := range idx {
			if k := indexOfValue(values, t.obs[i].cfg[key]); k >= 0 {
				p[k] += w[j]
			}
		}
		sum := 0.0
		for _, x := range p {
			sum += x
		}
		for i := range p {
			p[i] /= sum
		}
		return p
	}
	l, g := probs(below), probs(above)
	best, bestScore := -1, math.Inf(-1)
	for range t.NumCandidates {
		k := drawIndex(l, rng)
		if s := math.Log(l[k]) - math.Log(g[k]); best < 0 || s > bestScore {
			best, bestScore = k, s
		}
	}
	return values[best]
}

// weightsOf are the weights of n observations, oldest first (Optuna's
// default): equal up to 25, then the newest 25 weigh 1 and the older ones
// ramp up from 1/n.
func weightsOf(n int) []float64 {
	w := make([]float64, n)
	for i := range w {
		w[i] = 1
	}
	if n > 25 {
		old := n - 25
		for i := range old {
			w[i] = 1/float64(n) + (1-1/float64(n))*float64(i)/float64(max(old-1, 1))
		}
	}
	return w
}

// indexOfValue finds v among values, numbers compared as numbers (a
// config restored from JSON has float64 where the space had int).
func indexOfValue(values []any, v any) int {
	for i, x := range values {
		// Values of uncomparable types (slices, maps) would make == panic.
		if reflect.DeepEqual(x, v) {
			return i
		}
	}
	if f, ok := toFloat(v); ok {
		for i, x := range values {
			if g, ok := toFloat(x); ok && g == f {
				return i
			}
		}
	}
	return -1
}

func drawIndex(p []float64, rng *rand.Rand) int {
	u := rng.Float64()
	for i, x := range p {
		if u < x {
			return i
		}
		u -= x
	}
	return len(p) - 1
}

// parzen is a mixture of normals truncated to [a, b]: one per observation
// and a prior over the whole range.
type parzen struct {
	mu, sigma, w []float64
	a, b         float64
}

func newParzen(xs, weights []float64, a, b float64) parzen {
	p := parzen{a: a, b: b}
	p.mu = append(slices.Clone(xs), (a+b)/2)
	p.w = append(slices.Clone(weights), 1) // the prior weighs as one observation
	n := len(p.mu)
	p.sigma = make([]float64, n)
	// Each observation's bandwidth is the distance to its farther
	// neighbour (the range's ends count as neighbours), clipped: wide where
	// observations are sparse, narrow where they crowd.
	order := make([]int, n-1)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return p.mu[order[i]] < p.mu[order[j]] })
	for r, i := range order {
		left, right := a, b
		if r > 0 {
			left = p.mu[order[r-1]]
		}
		if r < len(order)-1 {
			right = p.mu[order[r+1]]
		}
		p.sigma[i] = max(p.mu[i]-left, right-p.mu[i])
	}
	width := b - a
	lo := width / min(100, 1+float64(n))
	for i := range p.sigma {
		p.sigma[i] = min(max(p.sigma[i], lo), width)
	}
	p.sigma[n-1] = width
	sum := 0.0
	for _, x := range p.w {
		sum += x
	}
	for i := range p.w {
		p.w[i] /= sum
	}
	return p
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }

// sample draws from the mixture: a component by weight, then its
// truncated normal by the inverse of its distribution function.
func (p parzen) sample(rng *rand.Rand) float64 {
	i := drawIndex(p.w, rng)
	lo, hi := normCDF((p.a-p.mu[i])/p.sigma[i]), normCDF((p.b-p.mu[i])/p.sigma[i])
	u := lo + rng.Float64()*(hi-lo)
	u = min(max(u, 1e-300), 1-1e-16)
	x := p.mu[i] - math.Sqrt2*math.Erfcinv(2*u)*p.sigma[i]
	return min(max(x, p.a), p.b)
}

// logPDF is the mixture's log density at x.
func (p parzen) logPDF(x float64) float64 {
	terms := make([]float64, len(p.mu))
	for i := range p.mu {
		z := (x - p.mu[i]) / p.sigma[i]
		mass := normCDF((p.b-p.mu[i])/p.sigma[i]) - normCDF((p.a-p.mu[i])/p.sigma[i])
		terms[i] = math.Log(p.w[i]) - 0.5*z*z - math.Log(p.sigma[i]*math.Sqrt(2*math.Pi)*max(mass, 1e-300))
	}
	return logSumExp(terms)
}

// logMass is the log of the mixture's mass on [lo, hi] (a discrete
// value's interval).
func (p parzen) logMass(lo, hi float64) float64 {
	m := 0.0
	for i := range p.mu {
		mass := normCDF((p.b-p.mu[i])/p.sigma[i]) - normCDF((p.a-p.mu[i])/p.sigma[i])
		in := normCDF((min(hi, p.b)-p.mu[i])/p.sigma[i]) - normCDF((max(lo, p.a)-p.mu[i])/p.sigma[i])
		m += p.w[i] * in / max(mass, 1e-300)
	}
	return math.Log(max(m, 1e-300))
}

func logSumExp(xs []float64) float64 {
	top := slices.Max(xs)
	if math.IsInf(top, -1) {
		return top
	}
	s := 0.0
	for _, x := range xs {
		s += math.Exp(x - top)
	}
	return top + math.Log(s)
}
