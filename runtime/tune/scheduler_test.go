package tune

import (
	"slices"
	"testing"
)

// ASHA with rungs at 1, 3 and 9 (reduction factor 3, max 27): at each rung
// a trial goes on only in the top third of the scores recorded there.
func TestASHA(t *testing.T) {
	a := &ASHA{MaxT: 27, GracePeriod: 1, ReductionFactor: 3}
	if got := a.milestones(); !slices.Equal(got, []int{9, 3, 1}) {
		t.Fatalf("rungs %v", got)
	}
	steps := []struct {
		trial string
		iter  int
		score float64
		want  Decision
	}{
		{"a", 1, 5, Continue}, // the first at a rung is its own cutoff
		{"b", 1, 1, Stop},     // below the top third of {5, 1}
		{"c", 1, 9, Continue}, // top
		{"a", 2, 6, Continue}, // not a rung
		{"c", 3, 9, Continue}, // first at rung 3
		{"a", 3, 4, Stop},     // below 9
		{"c", 26, 9, Continue},
		{"c", 27, 9, Stop}, // max_t
	}
	for i, s := range steps {
		if got := a.OnResult(s.trial, s.iter, s.score); got != s.want {
			t.Fatalf("step %d (%s at %d: %v): %v, want %v", i, s.trial, s.iter, s.score, got, s.want)
		}
	}
}

func TestMedianStopping(t *testing.T) {
	m := &MedianStopping{GracePeriod: 2, MinSamples: 3}
	for _, tr := range []string{"a", "b"} {
		m.OnResult(tr, 1, 10)
		m.OnResult(tr, 2, 10)
	}
	if m.OnResult("c", 1, 1) != Continue {
		t.Fatal("stopped within the grace period")
	}
	if m.OnResult("c", 2, 2) != Stop {
		t.Fatal("a trial far below the others' median went on")
	}
	if m.OnResult("d", 1, 10) != Continue || m.OnResult("d", 2, 11) != Continue {
		t.Fatal("a trial at the median was stopped")
	}
}
