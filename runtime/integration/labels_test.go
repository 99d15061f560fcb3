package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// Label selectors (Ray's label_selector) on a head and two nodes labelled
// zone=a,disk=ssd (127.0.0.2) and {"zone": "b"} (127.0.0.3): tasks and
// actors run only where the labels match, with spread and soft affinity
// too; every node has its ray.io/node-id; a selector no node matches
// waits; a malformed one is refused at once.
func TestLabelSelectors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, b := nodeIDs["127.0.0.2"], nodeIDs["127.0.0.3"]
	nodes, err := ray.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.NodeId == a && (n.Labels["zone"] != "a" || n.Labels["disk"] != "ssd" || n.Labels["ray.io/node-id"] != a) {
			t.Fatalf("node 127.0.0.2's labels: %v", n.Labels)
		}
	}
	for _, c := range []struct {
		sel  map[string]string
		opts []any
		want string
	}{
		{map[string]string{"zone": "b"}, nil, b},
		{map[string]string{"zone": "in(a, c)"}, nil, a},
		{map[string]string{"zone": "!a", "ray.io/node-id": "!" + nodeIDs["127.0.0.1"]}, nil, b},
		{map[string]string{"disk": "ssd"}, []any{ray.SchedulingSpread()}, a},
		{map[string]string{"ray.io/node-id": b}, nil, b},
		{map[string]string{"zone": "a"}, []any{ray.NodeAffinity(b, true)}, a}, // soft affinity yields to the selector
	} {
		for range 3 {
			args := append([]any{0, ray.LabelSelector(c.sel)}, c.opts...)
			got, err := ray.Get(ctx, whereAmI.Remote(ctx, args...))
			if err != nil || got != c.want {
				t.Fatalf("a task with selector %v (%d options) ran on %s (%v), want %s", c.sel, len(c.opts), got, err, c.want)
			}
		}
	}
	// An actor, placed by the GCS.
	h, err := stateful.Remote(ctx, ray.LabelSelector(map[string]string{"zone": "b"}))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(context.Background(), h, true) }()
	if got, err := ray.Get(ctx, actorWhere.Remote(ctx, h)); err != nil || got != b {
		t.Fatalf("an actor with selector zone=b is on %s (%v), want %s", got, err, b)
	}
	// No node matches: the task waits (as one asking for more than any
	// node has), it does not fail or run elsewhere.
	wctx, wcancel := context.WithTimeout(ctx, 700*time.Millisecond)
	defer wcancel()
	ref := whereAmI.Remote(wctx, 0, ray.LabelSelector(map[string]string{"zone": "c"}))
	if got, err := ray.Get(wctx, ref); err == nil {
		t.Fatalf("a task no node's labels match ran on %s", got)
	}
	_ = ray.Cancel(ref, true)
	// Malformed selectors are the caller's error, at once.
	for _, bad := range []map[string]string{{"zone": "in(a"}, {"bad key": "a"}} {
		_, err := ray.Get(ctx, whereAmI.Remote(ctx, 0, ray.LabelSelector(bad)))
		if err == nil || !strings.Contains(err.Error(), "label selector") {
			t.Errorf("selector %v: %v, want a label selector error", bad, err)
		}
	}
	pg, err := ray.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 0.1}}, "PACK")
	if err == nil {
		defer func() { _ = ray.RemovePlacementGroup(context.Background(), pg) }()
		_, err = ray.Get(ctx, whereAmI.Remote(ctx, 0, ray.InPlacementGroup(pg, 0), ray.LabelSelector(map[string]string{"zone": "a"})))
		if err == nil || !strings.Contains(err.Error(), "placement group") {
			t.Errorf("a selector with a placement group: %v, want an error saying why", err)
		}
	}
}
