package tune

import (
	"testing"
)

func TestPBTExploitAndExplore(t *testing.T) {
	p := &PBT{PerturbationInterval: 4, Mutations: map[string]any{"h": Uniform(0, 2), "opt": []any{"sgd", "adam", "rmsprop"}}, Seed: 1}
	trials := map[string]*TrialResult{}
	for i, id := range []string{"a", "b", "c", "d"} {
		trials[id] = &TrialResult{ID: id, Config: Config{"h": 1.0, "opt": "adam", "fixed": 7}, Checkpoint: &Checkpoint{Path: "/ck/" + id}}
		p.OnResult(id, 4, float64(i)) // a worst, d best
	}
	lookup := func(id string) *TrialResult { return trials[id] }
	if _, _, ok := p.Exploit("a", 3, lookup); ok {
		t.Fatal("an exploit off the perturbation interval")
	}
	if _, _, ok := p.Exploit("c", 4, lookup); ok {
		t.Fatal("a trial outside the bottom quarter exploited")
	}
	for range 20 {
		donor, cfg, ok := p.Exploit("a", 4, lookup)
		if !ok || donor.ID != "d" {
			t.Fatalf("the worst trial took %v (ok %v), want the best, d", donor, ok)
		}
		h := cfg.Float("h")
		if h < 0 || h > 2 && h != 1.2 {
			t.Fatalf("h mutated to %v", h)
		}
		if o := cfg.String("opt"); o != "sgd" && o != "adam" && o != "rmsprop" {
			t.Fatalf("opt mutated to %v", o)
		}
		if cfg.Int("fixed") != 7 || trials["d"].Config.Float("h") != 1.0 {
			t.Fatal("explore changed a key it does not mutate, or the donor's config")
		}
	}
	p.OnComplete("d")
	if donor, _, ok := p.Exploit("a", 8, lookup); ok && donor.ID == "d" {
		t.Fatal("a completed trial was a donor")
	}
}

// A mutation list of slices (layer sizes, say): explore steps to a
// neighbour instead of panicking on == between slices.
func TestPBTMutatesSliceValues(t *testing.T) {
	layers := []any{[]int{16}, []int{32, 16}, []int{64, 32}}
	p := &PBT{PerturbationInterval: 1, Mutations: map[string]any{"layers": layers}, Seed: 3}
	trials := map[string]*TrialResult{}
	for i, id := range []string{"a", "b", "c", "d"} {
		trials[id] = &TrialResult{ID: id, Config: Config{"layers": []int{32, 16}}, Checkpoint: &Checkpoint{Path: "/ck/" + id}}
		p.OnResult(id, 1, float64(i))
	}
	for range 20 {
		_, cfg, ok := p.Exploit("a", 1, func(id string) *TrialResult { return trials[id] })
		if !ok {
			t.Fatal("no exploit")
		}
		if indexOfValue(layers, cfg["layers"]) < 0 {
			t.Fatalf("layers mutated to %v", cfg["layers"])
		}
	}
}

// A GridSearch among the mutations is its list of values (sampling a grid
// panicked).
func TestPBTMutatesAGridAsItsValues(t *testing.T) {
	p := &PBT{PerturbationInterval: 1, Mutations: map[string]any{"bs": GridSearch(16, 32, 64)}, Seed: 5}
	trials := map[string]*TrialResult{}
	for i, id := range []string{"a", "b", "c", "d"} {
		trials[id] = &TrialResult{ID: id, Config: Config{"bs": 32}, Checkpoint: &Checkpoint{Path: "/ck/" + id}}
		p.OnResult(id, 1, float64(i))
	}
	for range 20 {
		_, cfg, ok := p.Exploit("a", 1, func(id string) *TrialResult { return trials[id] })
		if v := cfg.Int("bs"); !ok || (v != 16 && v != 32 && v != 64) {
			t.Fatalf("bs mutated to %v (ok %v)", cfg["bs"], ok)
		}
	}
}

// Synchronous PBT: a trial at an interval pauses until every live trial
// is paused there with its run ended; then the round is decided at once
// (the worst takes the best's state), all resume, and a trial that ends no
// longer holds a round.
func TestPBTSynchRounds(t *testing.T) {
	p := &PBT{PerturbationInterval: 2, Mutations: map[string]any{"h": Uniform(0, 2)}, Synch: true, Seed: 7}
	trials := map[string]*TrialResult{}
	for _, id := range []string{"a", "b", "c", "d"} {
		p.OnTrialAdd(id)
		trials[id] = &TrialResult{ID: id, Config: Config{"h": 1.0}, Checkpoint: &Checkpoint{Path: "/ck/" + id}}
	}
	p.OnNoMoreTrials()
	lookup := func(id string) *TrialResult { return trials[id] }
	if d := p.OnResult("a", 1, 5); d != Continue {
		t.Fatalf("off the interval: %v", d)
	}
	for i, id := range []string{"a", "b", "c"} {
		if d := p.OnResult(id, 2, float64(i)); d != Pause {
			t.Fatalf("%s at the interval: %v, want Pause", id, d)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		if d := p.Paused(id); d != Pause {
			t.Fatalf("%s resumed before d reached the interval", id)
		}
	}
	if d := p.OnResult("d", 2, 10); d != Pause {
		t.Fatalf("the last at the interval: %v, want Pause", d)
	}
	// The tuner asks of d once its run has ended: until then the donors'
	// states could move on, so nobody resumes.
	if p.Paused("c") != Pause {
		t.Fatal("c resumed before d's run ended")
	}
	exploited := map[string]string{}
	for _, id := range []string{"d", "c", "a", "b"} { // any order once d's run ended
		if d := p.Paused(id); d != Continue {
			t.Fatalf("%s not resumed when the round was complete", id)
		}
		if donor, cfg, ok := p.Exploit(id, 2, lookup); ok {
			exploited[id] = donor.ID
			if h := cfg.Float("h"); h < 0 || h > 2 {
				t.Fatalf("h mutated to %v", h)
			}
		}
	}
	if len(exploited) != 1 || exploited["a"] != "d" {
		t.Fatalf("exploits %v, want a taking d's state", exploited)
	}
	// Next round: d ends before the interval; the other three make it.
	for i, id := range []string{"a", "b", "c"} {
		p.OnResult(id, 4, float64(i))
	}
	if p.Paused("a") != Pause {
		t.Fatal("a resumed while d runs")
	}
	p.OnComplete("d")
	// As the tuner settles: it asks of each paused trial until none changes.
	resumed := map[string]bool{}
	for range 2 {
		for _, id := range []string{"a", "b", "c"} {
			if !resumed[id] && p.Paused(id) == Continue {
				resumed[id] = true
			}
		}
	}
	if len(resumed) != 3 {
		t.Fatalf("resumed %v: the round did not go on without the trial that ended", resumed)
	}
}
