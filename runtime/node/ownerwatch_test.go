package node

import (
	"strings"
	"testing"
	"time"
)

func TestOwnerTrackerDecisions(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type step struct {
		at   float64
		r    probeResult
		dead bool
		why  string
	}
	cases := map[string][]step{
		"alive stays":                {{0, ownerAlive, false, ""}, {100, ownerAlive, false, ""}},
		"replaced is dead at once":   {{0, ownerReplaced, true, "another process"}},
		"two refusals":               {{0, ownerRefused, false, ""}, {1, ownerRefused, true, "nothing listens"}},
		"refusals must be in a row":  {{0, ownerRefused, false, ""}, {1, ownerAlive, false, ""}, {2, ownerRefused, false, ""}, {3, ownerUnreachable, false, ""}, {4, ownerRefused, false, ""}, {5, ownerRefused, true, "nothing listens"}},
		"unreachable waits":          {{0, ownerUnreachable, false, ""}, {29, ownerUnreachable, false, ""}, {30, ownerUnreachable, true, "no answer for 30s"}},
		"an answer resets the clock": {{0, ownerUnreachable, false, ""}, {20, ownerAlive, false, ""}, {21, ownerUnreachable, false, ""}, {50, ownerUnreachable, false, ""}, {51, ownerRefused, true, "no answer for 30s"}},
		"dead owner starts over":     {{0, ownerReplaced, true, "another"}, {1, ownerRefused, false, ""}},
	}
	for name, steps := range cases {
		tr := newOwnerTracker()
		for i, s := range steps {
			dead, why := tr.observe("o:1", s.r, at(s.at))
			if dead != s.dead || !strings.Contains(why, s.why) {
				t.Errorf("%s: step %d (%v at %gs): dead %v (%q); want %v (%q)", name, i, s.r, s.at, dead, why, s.dead, s.why)
			}
		}
	}
}

func TestOwnerTrackerForgetsOwnersWithoutObjects(t *testing.T) {
	tr := newOwnerTracker()
	t0 := time.Unix(1000, 0)
	tr.observe("a:1", ownerRefused, t0)
	tr.observe("b:1", ownerUnreachable, t0)
	tr.retain(map[string]string{"b:1": "x"})
	if _, ok := tr.owners["a:1"]; ok || len(tr.owners) != 1 {
		t.Fatalf("owners kept: %v", tr.owners)
	}
	// a:1 comes back with new objects: one refusal is not yet enough.
	if dead, _ := tr.observe("a:1", ownerRefused, t0.Add(time.Second)); dead {
		t.Fatal("a forgotten owner's old refusal counted")
	}
}
