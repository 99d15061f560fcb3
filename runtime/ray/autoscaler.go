package ray

import (
	"context"
	"fmt"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// RequestResources asks the autoscaler to keep the cluster at least large
// enough to hold these bundles at once (Ray's
// ray.autoscaler.sdk.request_resources), whether or not work uses them. Each
// call replaces the previous request; calling it with no bundles clears it.
// The request is packed onto the nodes' total resources, so it does not
// reserve anything: tasks still run wherever they fit.
//
//	ray.RequestResources(ctx, map[string]float64{"CPU": 1}, map[string]float64{"CPU": 1})
func RequestResources(ctx context.Context, bundles ...map[string]float64) error {
	w, err := worker()
	if err != nil {
		return err
	}
	_, err = w.GCS().RequestClusterResourceConstraint(ctx, ConstraintOf(bundles...))
	if err != nil {
		return fmt.Errorf("request resources: %w", err)
	}
	return nil
}

// ConstraintOf groups bundles by shape into a resource constraint message.
func ConstraintOf(bundles ...map[string]float64) *rpcpb.ResourceConstraint {
	out := &rpcpb.ResourceConstraint{}
	seen := map[string]*rpcpb.ResourceDemand{}
	for _, b := range bundles {
		k := fmt.Sprint(b) // fmt sorts map keys
		if d, ok := seen[k]; ok {
			d.Count++
			continue
		}
		d := &rpcpb.ResourceDemand{Shape: b, Count: 1}
		seen[k] = d
		out.Requests = append(out.Requests, d)
	}
	return out
}
