package tune

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The brackets of MaxT 9, η 3: a band of three, s = 0, 1, 2, of 3, 5
// and 9 trials whose first milestones are 9, 3 and 1 iterations.
func TestHyperBandBrackets(t *testing.T) {
	h := &HyperBand{MaxT: 9, ReductionFactor: 3}
	for i := range 18 {
		h.OnTrialAdd(fmt.Sprint(i))
	}
	var got []string
	for _, b := range h.brackets {
		got = append(got, fmt.Sprintf("s%d:%d/%d@%d", b.s, b.added, b.size, b.milestone))
	}
	want := "s0:3/3@9 s1:5/5@3 s2:9/9@1 s0:1/3@9" // the 18th opens a new band
	if strings.Join(got, " ") != want {
		t.Fatalf("brackets %v, want %s", got, want)
	}
}

type hbStep struct {
	trial string
	iter  int
	score float64
	want  Decision
}

func runSteps(t *testing.T, h *HyperBand, steps []hbStep) {
	t.Helper()
	for i, s := range steps {
		if got := h.OnResult(s.trial, s.iter, s.score); got != s.want {
			t.Fatalf("step %d (%s at %d: %v): %v, want %v", i, s.trial, s.iter, s.score, got, s.want)
		}
	}
}

func checkPaused(t *testing.T, h *HyperBand, want map[string]Decision) {
	t.Helper()
	for trial, d := range want {
		if got := h.Paused(trial); got != d {
			t.Fatalf("paused %s: %v, want %v", trial, got, d)
		}
	}
}

// A round of successive halving in bracket s = 1 (5 trials, milestone 3,
// then 2 of them to 9): trials pause at the milestone until the last one
// reaches it, then the best two resume and the others stop.
func TestHyperBandHalving(t *testing.T) {
	h := &HyperBand{MaxT: 9, ReductionFactor: 3}
	for _, tr := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		h.OnTrialAdd(tr) // a-c: s = 0; d-h: s = 1
	}
	runSteps(t, h, []hbStep{
		{"d", 1, 0, Continue},
		{"d", 2, 0, Continue},
		{"d", 3, 5, Pause}, // at the milestone, the others are not
		{"e", 3, 1, Pause},
		{"f", 3, 9, Pause},
		{"g", 3, 2, Pause},
		{"a", 8, 0, Continue}, // s = 0 runs to MaxT without pausing
	})
	checkPaused(t, h, map[string]Decision{"d": Pause, "f": Pause})
	runSteps(t, h, []hbStep{{"h", 3, 3, Stop}}) // the round ends: f and d are the best two
	checkPaused(t, h, map[string]Decision{"d": Continue, "f": Continue, "e": Stop, "g": Stop})
	checkPaused(t, h, map[string]Decision{"d": Pause}) // said once; d is running again
	runSteps(t, h, []hbStep{
		{"f", 4, 9, Continue},
		{"f", 8, 9, Continue},
		{"f", 9, 9, Stop}, // MaxT
		{"d", 9, 5, Stop},
		{"a", 9, 0, Stop},
	})
}

// A trial that ends (fails, or returns) before its milestone no longer
// holds the round back; OnNoMoreTrials lets a bracket short of trials
// halve with those it has.
func TestHyperBandEndsAndShortBrackets(t *testing.T) {
	h := &HyperBand{MaxT: 9, ReductionFactor: 3}
	for _, tr := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"} {
		h.OnTrialAdd(tr) // d-h: s = 1; i-k: s = 2 (of 9)
	}
	runSteps(t, h, []hbStep{
		{"d", 3, 1, Pause}, {"e", 3, 2, Pause}, {"f", 3, 3, Pause}, {"g", 3, 4, Pause},
	})
	h.OnComplete("h") // failed at iteration 2: the round is done without it
	checkPaused(t, h, map[string]Decision{"d": Stop, "e": Stop, "f": Continue, "g": Continue})

	runSteps(t, h, []hbStep{{"i", 1, 1, Pause}, {"j", 1, 3, Pause}, {"k", 1, 2, Pause}})
	checkPaused(t, h, map[string]Decision{"i": Pause, "j": Pause, "k": Pause})
	h.OnNoMoreTrials() // s = 2 keeps ⌈9/3⌉ = 3 of its 3: all go on to 3
	checkPaused(t, h, map[string]Decision{"i": Continue, "j": Continue, "k": Continue})
	runSteps(t, h, []hbStep{{"i", 3, 1, Pause}, {"j", 3, 3, Pause}})
	// k keeps ⌈3/3⌉ = 1 going on to MaxT: j, the best; k stops at once.
	runSteps(t, h, []hbStep{{"k", 3, 2, Stop}})
	checkPaused(t, h, map[string]Decision{"i": Stop, "j": Continue})
}

// hbToy reports toyScore for iterations 1, 2, ..., checkpointing its
// iteration each time and marking where each run started, so a resumed
// trial shows it went on from its milestone.
var hbToy = Trainable("test.hb_toy", func(ctx context.Context, tc *Context, cfg Config) error {
	start := 1
	if ck := tc.Checkpoint(); ck != nil {
		start = int(ck.Metrics["training_iteration"]) + 1
	}
	f, err := os.OpenFile(filepath.Join(cfg.String("dir"), tc.TrialID()), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintln(f, start)
	_ = f.Close()
	for i := start; i <= 100; i++ {
		ck, err := tc.NewCheckpoint()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(ck.Path, "iter"), []byte(fmt.Sprint(i)), 0o600); err != nil {
			return err
		}
		if err := tc.Report(ctx, map[string]float64{"score": toyScore(cfg.Float("x"), i)}, ck); err != nil {
			return err
		}
	}
	return nil
})

// HyperBand over trial processes: 17 trials in brackets of 3, 5 and 9
// on one runner, so trials must pause (giving up the runner) for the
// others to reach their milestone; one at a time, the order is fixed, so
// which trials pause and resume is too. Each trial runs exactly the
// iterations HyperBand gives it, a resumed trial goes on from its
// checkpoint, and every history runs 1, 2, ... without a gap or repeat.
func TestHyperBandFit(t *testing.T) {
	marks := t.TempDir()
	space := Space{"x": gridOf(17, 0, 10), "dir": marks}
	var progress strings.Builder
	grid, err := Fit(context.Background(), hbToy, space,
		TuneConfig{Metric: "score", Mode: "max", MaxConcurrentTrials: 1, Scheduler: &HyperBand{MaxT: 9, ReductionFactor: 3}},
		RunConfig{StoragePath: t.TempDir(), Name: "hyperband", Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	// What each bracket gives its trials: ranked by distance to 3.7 (the
	// score's order at every iteration).
	want := map[string]int{}
	bracket := func(ids []int, rounds ...[2]int) { // rounds: {keep, iterations}
		sort.Slice(ids, func(i, j int) bool {
			return math.Abs(10*float64(ids[i])/16-3.7) < math.Abs(10*float64(ids[j])/16-3.7)
		})
		for _, r := range rounds {
			for _, id := range ids[:r[0]] {
				want[trialID(id)] = r[1]
			}
		}
	}
	bracket([]int{0, 1, 2}, [2]int{3, 9})
	bracket([]int{3, 4, 5, 6, 7}, [2]int{5, 3}, [2]int{2, 9})
	bracket([]int{8, 9, 10, 11, 12, 13, 14, 15, 16}, [2]int{9, 1}, [2]int{3, 3}, [2]int{1, 9})
	total, resumes := 0, 0
	for _, tr := range grid.Trials {
		if tr.Status != Terminated || len(tr.History) != want[tr.ID] {
			t.Errorf("%s: %s after %d iterations, want %d", tr.ID, tr.Status, len(tr.History), want[tr.ID])
		}
		for i, m := range tr.History {
			if m["training_iteration"] != float64(i+1) {
				t.Fatalf("%s: result %d is of iteration %v", tr.ID, i, m["training_iteration"])
			}
		}
		total += len(tr.History)
		b, _ := os.ReadFile(filepath.Join(marks, tr.ID))
		starts := strings.Fields(string(b))
		if len(starts) == 0 || starts[0] != "1" {
			t.Fatalf("%s's runs started at %v", tr.ID, starts)
		}
		resumes += len(starts) - 1
		for _, s := range starts[1:] {
			if s != "2" && s != "4" { // resumed after milestone 1 or 3
				t.Fatalf("%s resumed at iteration %s: not from a milestone's checkpoint (runs: %v)", tr.ID, s, starts)
			}
		}
	}
	// s = 1 resumes its best 2 at 3; s = 2 its best 3 at 1, then 1 at 3
	// (the trial that ends each round is never among the best, which
	// would go on without pausing).
	if resumes != 6 {
		t.Fatalf("%d resumed runs, want 6", resumes)
	}
	// The reporter's last table: the time, the counts, the best trial first.
	if out := progress.String(); !strings.Contains(out, "Total running time") || !strings.Contains(out, "Trial status: 17 TERMINATED") ||
		!strings.Contains(out, "trial_00006  TERMINATED") {
		t.Fatalf("progress:\n%s", out)
	}
	best, _ := grid.Best()
	t.Logf("HyperBand: %d iterations in all (17 trials × 9: %d), best x %.3f", total, 17*9, best.Config.Float("x"))
	if x := best.Config.Float("x"); math.Abs(x-3.75) > 1e-9 {
		t.Fatalf("best x %v, want the grid point nearest 3.7 (3.75)", x)
	}
}
