package tune

import (
	"encoding/json"
	"testing"
)

// The cached encoding is json.Marshal's, through every kind of change a
// trial goes through.
func TestStateCache(t *testing.T) {
	exp := &experiment{Name: "e", Trainable: "t", Metric: "m", Mode: "max"}
	var c stateCache
	check := func(step string) {
		t.Helper()
		want, err := json.Marshal(exp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.encode(exp)
		if err != nil || string(got) != string(want) {
			t.Fatalf("%s: cached\n%s\nwant\n%s", step, got, want)
		}
	}
	check("no trials")
	for i := range 3 {
		exp.Trials = append(exp.Trials, &TrialResult{ID: trialID(i), Config: Config{"x": float64(i)}, Status: Pending})
	}
	check("pending")
	a, b := exp.Trials[0], exp.Trials[1]
	a.Status = Running
	check("running")
	m := map[string]float64{"m": 1, "training_iteration": 1}
	a.Metrics, a.History = m, append(a.History, m)
	check("a result")
	m = map[string]float64{"m": 2, "training_iteration": 2}
	a.Metrics, a.History = m, append(a.History, m)
	a.Checkpoint = &Checkpoint{Path: "/c", Index: 0, Metrics: m}
	check("a result with a checkpoint")
	a.History, a.Metrics = a.History[:1], a.History[0]
	check("rewound")
	b.Status, b.Error = Errored, "boom"
	check("an error")
	a.Config = Config{"x": 9.0}
	a.Stopped, a.Status = true, Terminated
	check("a new config, stopped")
}
