package tune

import (
	"context"
	"testing"
	"time"
)

// TimeBudget ends the experiment: running trials are stopped at their
// next report, no trial starts after it — including one already queued
// on a busy runner (prefetch), which goes back to PENDING without
// results — and the experiment returns soon after.
func TestTimeBudget(t *testing.T) {
	space := Space{"x": Uniform(0, 10), "max_iter": 10, "sleep_ms": 20}
	t0 := time.Now()
	grid, err := Fit(context.Background(), toy, space,
		TuneConfig{Metric: "score", Mode: "max", NumSamples: 40, MaxConcurrentTrials: 2, TimeBudget: 700 * time.Millisecond,
			Scheduler: &ASHA{MaxT: 1000, GracePeriod: 1000}}, // never stops one: not FIFO, so Report waits
		RunConfig{StoragePath: t.TempDir(), Name: "budget"})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	count := map[string]int{}
	stopped := 0
	for _, tr := range grid.Trials {
		count[tr.Status]++
		switch tr.Status {
		case Pending:
			if len(tr.History) != 0 || tr.Stopped {
				t.Fatalf("%s is pending with %d results (stopped %v)", tr.ID, len(tr.History), tr.Stopped)
			}
		case Terminated:
			if tr.Stopped {
				stopped++
				// Stopped at its next report: the last one (10), when the
				// budget ran out just as it made it.
				if len(tr.History) == 0 || len(tr.History) > 10 {
					t.Fatalf("%s stopped by the budget after %d results", tr.ID, len(tr.History))
				}
			} else if len(tr.History) != 10 {
				t.Fatalf("%s ended after %d results", tr.ID, len(tr.History))
			}
		default:
			t.Fatalf("%s: %s %s", tr.ID, tr.Status, tr.Error)
		}
	}
	t.Logf("after %v: %v, %d stopped by the budget", took.Round(time.Millisecond), count, stopped)
	if count[Pending] == 0 || count[Terminated] == 0 || stopped == 0 || took > 2*time.Second {
		t.Fatalf("after %v: %v, %d stopped by the budget", took, count, stopped)
	}
}
