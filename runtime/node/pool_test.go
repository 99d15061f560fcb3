package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/internal/datadriven"
)

// TestIdlePoolScenarios drives the idle pools from testdata/pool.txt. The
// clock starts at 0 and moves with "tick"; pools are named by job (j),
// executable (h) and runtime_env variables (env).
func TestIdlePoolScenarios(t *testing.T) {
	var p *idlePool
	var now time.Time
	key := func(d *datadriven.TestData) poolKey {
		return poolKey{job: d.Val("job", "j1"), hash: d.Val("hash", "h1"), env: d.Val("env", "")}
	}
	datadriven.RunTest(t, "testdata/pool.txt", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "reset":
			p, now = newIdlePool(), time.Unix(0, 0)
			return "ok"
		case "tick":
			dur, err := time.ParseDuration(d.Val("by", "1s"))
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			now = now.Add(dur)
			return "ok"
		case "park":
			ids, _ := d.Arg("ids")
			for _, id := range ids {
				p.park(key(d), id, now)
			}
			return "ok"
		case "pop":
			id, ok := p.pop(key(d))
			if !ok {
				return "none: start a worker"
			}
			return id
		case "lease":
			// A lease that finds no idle worker: does it pre-start?
			if id, ok := p.pop(key(d)); ok {
				return id
			}
			return fmt.Sprintf("start; prestart=%v", p.firstLease(key(d)))
		case "exited":
			p.remove(key(d), d.Val("id", ""))
			return "ok"
		case "reap":
			dur, _ := time.ParseDuration(d.Val("timeout", "1m"))
			ids := p.reap(now, dur)
			if len(ids) == 0 {
				return "none"
			}
			return "kill " + strings.Join(ids, " ")
		case "show":
			return fmt.Sprintf("%s\nidle=%d", p, p.size())
		}
		d.Fatalf(t, "unknown command")
		return ""
	})
}

func TestIdleWorkerTimeout(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"": time.Minute, "500": 500 * time.Millisecond, "0": time.Minute, "-3": time.Minute, "x": time.Minute,
	} {
		if got := idleWorkerTimeout(func(string) string { return v }); got != want {
			t.Errorf("RAY_idle_worker_killing_time_threshold_ms=%q: %v, want %v", v, got, want)
		}
	}
}
