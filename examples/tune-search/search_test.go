package tunesearch

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
	"github.com/goray-dev/goray/runtime/tune"
)

func TestMain(m *testing.M) { os.Exit(ray.RunTests(m, ray.WithNumCPUs(2))) }

// The experiment runs every trial to its end and names the trial nearest
// the optimum; the seed fixes which one that is.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	best, err := Run(context.Background(), &out, t.TempDir(), 10*time.Millisecond)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Log(out.String())
	line := regexp.MustCompile(`tune: best trial (\S+): x=(\d+\.\d{4}) score=(-?\d+\.\d{4}) after 10 iterations \(6 trials, all TERMINATED, `)
	m := line.FindStringSubmatch(out.String())
	if m == nil || m[1] != best.ID || !strings.Contains(out.String(), "Trial status: 6 TERMINATED") {
		t.Fatalf("unexpected output:\n%s", out.String())
	}
	if got, want := best.Metrics["score"], Score(best.Config.Float("x"), Iterations); got != want {
		t.Fatalf("best score %v, want %v", got, want)
	}
	// The same seed gives the same best trial.
	out.Reset()
	again, err := Run(context.Background(), &out, t.TempDir(), 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != best.ID || again.Config.Float("x") != best.Config.Float("x") {
		t.Fatalf("a second run's best is %s x=%v, the first's %s x=%v", again.ID, again.Config["x"], best.ID, best.Config["x"])
	}
}

// check refuses results that are not the objective's, a trial cut short
// and a best trial that is not the nearest to the optimum.
func TestCheck(t *testing.T) {
	trial := func(id string, x float64, n int) *tune.TrialResult {
		tr := &tune.TrialResult{ID: id, Config: tune.Config{"x": x}, Status: tune.Terminated}
		for i := 1; i <= n; i++ {
			r := map[string]float64{"score": Score(x, i), "training_iteration": float64(i)}
			tr.History = append(tr.History, r)
			tr.Metrics = r
		}
		return tr
	}
	good := func() *tune.ResultGrid {
		g := &tune.ResultGrid{Metric: "score", Mode: "max"}
		for i := range Trials {
			g.Trials = append(g.Trials, trial("t"+string(rune('0'+i)), float64(i), Iterations))
		}
		return g
	}
	if err := check(good()); err != nil {
		t.Fatal(err)
	}
	g := good()
	g.Trials[1] = trial("short", 1, Iterations-1)
	if err := check(g); err == nil {
		t.Error("a trial cut short passed")
	}
	g = good()
	g.Trials[2].History[3]["score"] += 0.5
	if err := check(g); err == nil {
		t.Error("a wrong score passed")
	}
	g = good()
	g.Trials[0].Status = tune.Errored
	if err := check(g); err == nil {
		t.Error("a failed trial passed")
	}
	g = good()
	g.Trials[0].Metrics = map[string]float64{"score": 10} // best by its last result, but not nearest
	if err := check(g); err == nil {
		t.Error("a best trial that is not the nearest passed")
	}
	g = good()
	g.Trials = g.Trials[1:]
	if err := check(g); err == nil {
		t.Error("a missing trial passed")
	}
}
