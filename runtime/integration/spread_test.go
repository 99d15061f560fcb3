package integration

import (
	"context"
	"testing"

	"github.com/goray-dev/goray/runtime/ray"
)

// SPREAD tasks spread even after fast ones of the same shape: a queue of
// sub-millisecond tasks pipelines them onto one leased worker, which must
// not hold for SPREAD (it ran every later SPREAD task on one node).
func TestSpreadAfterFastSpreadTasks(t *testing.T) {
	ctx := context.Background()
	var fast []ray.Ref[string]
	for range 50 {
		fast = append(fast, whereAmI.Remote(ctx, 0, ray.SchedulingSpread()))
	}
	if _, err := ray.GetAll(ctx, fast...); err != nil {
		t.Fatal(err)
	}
	var refs []ray.Ref[string]
	for range 10 {
		refs = append(refs, whereAmI.Remote(ctx, 100, ray.SchedulingSpread()))
	}
	where, err := ray.GetAll(ctx, refs...)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, n := range where {
		seen[n]++
	}
	if len(seen) < 2 {
		t.Fatalf("SPREAD tasks after fast ones ran on %d node(s): %v", len(seen), seen)
	}
}
