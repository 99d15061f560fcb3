package node

import (
	"strings"
	"testing"
	"time"
)

func TestMemoryMonitorConfig(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	th, r, err := memoryMonitorConfig(env(nil))
	if err != nil || th != 0.95 || r != 250*time.Millisecond {
		t.Fatalf("defaults: %v %v %v, want Ray's 0.95 and 250ms", th, r, err)
	}
	th, r, err = memoryMonitorConfig(env(map[string]string{"RAY_memory_usage_threshold": "0.5", "RAY_memory_monitor_refresh_ms": "0"}))
	if err != nil || th != 0.5 || r != 0 {
		t.Fatalf("set: %v %v %v", th, r, err)
	}
	for _, bad := range []map[string]string{
		{"RAY_memory_usage_threshold": "1.5"}, {"RAY_memory_usage_threshold": "0"}, {"RAY_memory_usage_threshold": "x"},
		{"RAY_memory_monitor_refresh_ms": "-1"}, {"RAY_memory_monitor_refresh_ms": "1s"},
	} {
		if _, _, err := memoryMonitorConfig(env(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// The victim: the newest retriable lease; only when none, the newest other.
func TestPickVictim(t *testing.T) {
	t0 := time.Unix(1000, 0)
	c := func(id string, retriable bool, s int) memCandidate {
		return memCandidate{workerID: id, retriable: retriable, granted: t0.Add(time.Duration(s) * time.Second)}
	}
	for _, tc := range []struct {
		name  string
		cands []memCandidate
		want  string
	}{
		{"none", nil, ""},
		{"newest retriable over a newer non-retriable", []memCandidate{c("a", true, 1), c("b", true, 3), c("c", false, 5)}, "b"},
		{"no retriable: the newest", []memCandidate{c("a", false, 1), c("b", false, 3)}, "b"},
		{"a tie goes by id", []memCandidate{c("y", true, 2), c("x", true, 2)}, "x"},
	} {
		v, ok := pickVictim(tc.cands)
		if ok != (tc.want != "") || v.workerID != tc.want {
			t.Errorf("%s: %q (%v), want %q", tc.name, v.workerID, ok, tc.want)
		}
	}
}

// One kill at a time: after a kill the monitor waits for the worker to
// exit (or memoryKillWait) before it kills another, and it kills nothing
// below the threshold.
func TestMemoryMonitorStep(t *testing.T) {
	m := &memoryMonitor{threshold: 0.9}
	now := time.Unix(5000, 0)
	alive := map[string]bool{"a": true, "b": true}
	isAlive := func(id string) bool { return alive[id] }
	cands := []memCandidate{{workerID: "a", retriable: true, granted: now}, {workerID: "b", retriable: true, granted: now.Add(time.Second)}}
	low, high := memoryUsage{used: 80, total: 100}, memoryUsage{used: 95, total: 100}
	if _, ok := m.step(now, low, cands, isAlive); ok {
		t.Fatal("a kill below the threshold")
	}
	if v, ok := m.step(now, high, cands, isAlive); !ok || v.workerID != "b" {
		t.Fatalf("over the threshold: %v %v, want b", v, ok)
	}
	if _, ok := m.step(now.Add(time.Second), high, cands[:1], isAlive); ok {
		t.Fatal("a second kill while the first victim still runs")
	}
	delete(alive, "b")
	if v, ok := m.step(now.Add(2*time.Second), high, cands[:1], isAlive); !ok || v.workerID != "a" {
		t.Fatalf("after b exited: %v %v, want a", v, ok)
	}
	// a never exits (stuck): after memoryKillWait the monitor goes on.
	if _, ok := m.step(now.Add(3*time.Second), high, cands[:1], isAlive); ok {
		t.Fatal("a kill while a is still exiting")
	}
	if _, ok := m.step(now.Add(2*time.Second+memoryKillWait), high, cands[:1], isAlive); !ok {
		t.Fatal("no kill after the wait bound")
	}
	if _, ok := m.step(now.Add(time.Hour), memoryUsage{}, cands, isAlive); ok {
		t.Fatal("a kill on an empty reading")
	}
}

func TestOOMReasonNamesTheNumbers(t *testing.T) {
	r := oomReason(memCandidate{workerID: "w1", retriable: true}, memoryUsage{used: 960e6, total: 1e9, source: "of the node's cgroup"}, 0.95, "10.0.0.1", "n1")
	for _, want := range []string{"0.96GB / 1.00GB (0.960) of the node's cgroup", "threshold of 0.95", "10.0.0.1", "w1", "RAY_memory_usage_threshold"} {
		if !strings.Contains(r, want) {
			t.Errorf("reason %q lacks %q", r, want)
		}
	}
}
