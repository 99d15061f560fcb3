package tune

import (
	"strings"
	"testing"
)

// The table counts paused trials (HyperBand's) with the others.
func TestTableCountsPaused(t *testing.T) {
	g := &ResultGrid{Metric: "m", Mode: "max", Trials: []*TrialResult{
		{ID: "a", Status: Paused, Metrics: map[string]float64{"m": 2}},
		{ID: "b", Status: Running},
		{ID: "c", Status: Terminated, Metrics: map[string]float64{"m": 1}},
	}}
	var b strings.Builder
	g.Table(&b, 10)
	if !strings.Contains(b.String(), "Trial status: 1 RUNNING | 1 PAUSED | 1 TERMINATED") || !strings.Contains(b.String(), "a           PAUSED") {
		t.Fatalf("table:\n%s", b.String())
	}
}
