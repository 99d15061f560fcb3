package core

import (
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Tasks share leased workers only with tasks of the same queue key: the
// same resources and the same strategy, label selector included.
func TestQueueKeysTellStrategiesApart(t *testing.T) {
	cpu := map[string]float64{"CPU": 1}
	sel := func(m map[string]string) TaskOptions {
		return TaskOptions{Resources: cpu, Strategy: &rpcpb.SchedulingStrategy{LabelSelector: m}}
	}
	keys := map[string]string{
		"plain":       queueKey(TaskOptions{Resources: cpu}),
		"spread":      queueKey(TaskOptions{Resources: cpu, Strategy: &rpcpb.SchedulingStrategy{Kind: rpcpb.SchedulingStrategy_SPREAD}}),
		"zone=a":      queueKey(sel(map[string]string{"zone": "a"})),
		"zone=b":      queueKey(sel(map[string]string{"zone": "b"})),
		"zone=a,disk": queueKey(sel(map[string]string{"zone": "a", "disk": "ssd"})),
		"2 CPUs":      queueKey(TaskOptions{Resources: map[string]float64{"CPU": 2}}),
		"gen (plain)": queueKey(TaskOptions{Resources: cpu, streaming: true}),
		// The node's memory monitor spares leases of tasks without retries.
		"plain, retries": queueKey(TaskOptions{Resources: cpu, MaxRetries: 3}),
	}
	seen := map[string]string{}
	for name, k := range keys {
		if other, dup := seen[k]; dup {
			t.Errorf("%s and %s share the queue key %q", name, other, k)
		}
		seen[k] = name
	}
	if a, b := queueKey(TaskOptions{Resources: cpu, MaxRetries: 3}), queueKey(TaskOptions{Resources: cpu, MaxRetries: -1}); a != b || a != cpu1Key {
		t.Errorf("retriable one-CPU tasks: %q and %q, want the common queue %q", a, b, cpu1Key)
	}
	if a, b := queueKey(sel(map[string]string{"zone": "a", "disk": "ssd"})), queueKey(sel(map[string]string{"disk": "ssd", "zone": "a"})); a != b {
		t.Errorf("one selector, two keys: %q %q", a, b)
	}
}
