package gcs

import (
	"strings"
	"testing"
	"time"
)

// TestDriverTracker runs probe sequences through the decision on a clock of
// its own: each step is one probe of a job's driver, at seconds since the
// start, and the verdict it must give ("" for alive or undecided, else a
// substring of the reason).
func TestDriverTracker(t *testing.T) {
	type step struct {
		at   float64 // seconds
		job  string
		addr string
		r    driverProbe
		dead string
	}
	const a, b = "10.0.0.9:5000", "10.0.0.9:6000"
	const (
		ok      = driverAnswered
		refused = driverRefused
		silent  = driverSilent
	)
	every := func(from, to, dt float64, job, addr string, r driverProbe) []step {
		var out []step
		for s := from; s <= to; s += dt {
			out = append(out, step{at: s, job: job, addr: addr, r: r})
		}
		return out
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		quiet float64 // quietUntil, seconds
		steps []step
	}{
		{name: "alive driver: never dead", steps: every(0, 600, 2, "j1", a, ok)},
		{name: "killed driver: dead once refused for 10 s (the sixth refusal at one every 2 s)", steps: cat(
			every(0, 6, 2, "j1", a, ok),
			every(8, 16, 2, "j1", a, refused),
			[]step{{at: 18, job: "j1", addr: a, r: refused, dead: "nothing listened at its address 10.0.0.9:5000 for 10s (6 probes)"}},
		)},
		{name: "five quick refusals are not enough: 10 s must pass", steps: cat(
			every(0, 4, 1, "j1", a, refused), // 5 refusals over 4 s
			every(5, 9, 1, "j1", a, refused),
			[]step{{at: 10, job: "j1", addr: a, r: refused, dead: "for 10s (11 probes)"}},
		)},
		{name: "long but too few refusals: 5 are needed", steps: []step{
			{at: 0, job: "j1", addr: a, r: refused},
			{at: 20, job: "j1", addr: a, r: refused},
			{at: 40, job: "j1", addr: a, r: refused},
			{at: 60, job: "j1", addr: a, r: refused},
			{at: 80, job: "j1", addr: a, r: refused, dead: "for 1m20s (5 probes)"},
		}},
		{name: "an answer in between starts over", steps: cat(
			every(0, 8, 2, "j1", a, refused),
			[]step{{at: 9, job: "j1", addr: a, r: ok}},
			every(10, 18, 2, "j1", a, refused),
			[]step{{at: 20, job: "j1", addr: a, r: refused, dead: "for 10s (6 probes)"}},
		)},
		{name: "slow driver (GC pause, busy machine): timeouts for 58 s, then an answer", steps: cat(
			every(0, 58, 2, "j1", a, silent),
			every(60, 300, 2, "j1", a, ok),
		)},
		{name: "silent driver: dead after 60 s of no answer", steps: cat(
			every(0, 58, 2, "j1", a, silent),
			[]step{{at: 60, job: "j1", addr: a, r: silent, dead: "no answer from its address 10.0.0.9:5000 for 1m0s (31 probes)"}},
		)},
		{name: "a timeout breaks a run of refusals: it needs 5 in a row", steps: cat(
			every(0, 6, 2, "j1", a, refused),
			[]step{{at: 8, job: "j1", addr: a, r: silent}},
			every(10, 16, 2, "j1", a, refused),
			[]step{{at: 18, job: "j1", addr: a, r: refused, dead: "nothing listened at its address 10.0.0.9:5000 for 18s (10 probes)"}},
		)},
		{name: "restarted GCS: nothing judged in the grace, then a run starts", quiet: 120, steps: cat(
			every(0, 118, 2, "j1", a, refused),
			every(120, 128, 2, "j1", a, refused),
			[]step{{at: 130, job: "j1", addr: a, r: refused, dead: "for 10s (6 probes)"}},
		)},
		{name: "job taken over by a new driver (serve controller): its address starts over", steps: cat(
			every(0, 8, 2, "j1", a, refused),
			every(10, 100, 2, "j1", b, ok),
			every(102, 110, 2, "j1", b, refused),
			[]step{{at: 112, job: "j1", addr: b, r: refused, dead: "nothing listened at its address 10.0.0.9:6000 for 10s (6 probes)"}},
		)},
		{name: "jobs are judged apart", steps: cat(
			[]step{
				{at: 0, job: "j1", addr: a, r: refused}, {at: 0, job: "j2", addr: b, r: ok},
				{at: 3, job: "j1", addr: a, r: refused}, {at: 3, job: "j2", addr: b, r: refused},
				{at: 6, job: "j1", addr: a, r: refused}, {at: 6, job: "j2", addr: b, r: refused},
				{at: 9, job: "j1", addr: a, r: refused}, {at: 9, job: "j2", addr: b, r: refused},
				{at: 12, job: "j1", addr: a, r: refused, dead: "10.0.0.9:5000 for 12s (5 probes)"}, {at: 12, job: "j2", addr: b, r: refused},
				{at: 15, job: "j2", addr: b, r: refused, dead: "10.0.0.9:6000 for 12s (5 probes)"},
			},
		)},
		{name: "a dead driver's job is forgotten: a later probe starts over", steps: cat(
			every(0, 8, 2, "j1", a, refused),
			[]step{{at: 10, job: "j1", addr: a, r: refused, dead: "for 10s"}},
			every(12, 20, 2, "j1", a, refused),
			[]step{{at: 22, job: "j1", addr: a, r: refused, dead: "for 10s (6 probes)"}},
		)},
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var quiet time.Time
			if c.quiet > 0 {
				quiet = sec(c.quiet)
			}
			tr := newDriverTracker(quiet)
			for i, s := range c.steps {
				dead, why := tr.observe(s.job, s.addr, s.r, sec(s.at))
				switch {
				case s.dead == "" && dead:
					t.Fatalf("step %d (at %vs, %s): dead (%s), want not yet", i, s.at, s.job, why)
				case s.dead != "" && !dead:
					t.Fatalf("step %d (at %vs, %s): not dead, want dead (%s)", i, s.at, s.job, s.dead)
				case s.dead != "" && !strings.Contains(why, s.dead):
					t.Fatalf("step %d (at %vs, %s): reason %q, want it to contain %q", i, s.at, s.job, why, s.dead)
				}
			}
		})
	}
}

// TestDriverTrackerRetain: a job no longer probed (finished) is forgotten,
// so a run of failures does not carry over to a job probed again later.
func TestDriverTrackerRetain(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := newDriverTracker(time.Time{})
	for i := 0; i < 4; i++ {
		if dead, _ := tr.observe("j1", "h:1", driverRefused, start.Add(time.Duration(i)*3*time.Second)); dead {
			t.Fatal("dead too early")
		}
	}
	tr.retain(map[string]string{"j2": "h:2"})
	if len(tr.drivers) != 0 {
		t.Fatalf("tracker still holds %v", tr.drivers)
	}
	if dead, _ := tr.observe("j1", "h:1", driverRefused, start.Add(12*time.Second)); dead {
		t.Fatal("a forgotten run counted")
	}
}
