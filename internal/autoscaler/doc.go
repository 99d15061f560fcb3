// Package autoscaler is `goray autoscaler`: the loop that scales a
// RayCluster's worker groups from the runtime's pending demand. Each round it
// reads the RayCluster and its pods from Kubernetes and the resource state
// from the head's GCS, asks the pure planner (package planner) for a
// decision, drains the idle nodes it removes (DrainNode), and applies the
// decision with KubeRay's patch protocol: one JSON patch of
// workerGroupSpecs[i].replicas and scaleStrategy.workersToDelete, nothing
// more while named pods still exist, and the list cleared once they are gone.
// It reports its last decision and the infeasible demand back to the GCS
// (shown by `goray status`) and as Warning events on the RayCluster.
//
// The translation between Kubernetes objects and planner input (nodetypes.go,
// input.go) and the patch (patch.go) are pure; loop.go does the I/O. Rounds
// run every --interval and also as soon as the RayCluster or one of its pods
// changes.
package autoscaler
