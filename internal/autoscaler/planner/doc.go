// Package planner is goray's autoscaling decision as a pure function: given
// the worker groups as node types, the cluster's nodes (with their idle
// time), the pending demand (tasks and actors by shape, placement groups with
// their strategy, explicit RequestResources constraints), the upscaling mode
// and the idle timeouts, Plan returns the target replicas of every group, the
// pods to remove, the demand no group could ever hold and the reasons.
//
// It does no I/O and reads no clock: idle durations come in with the nodes.
// The loop in package autoscaler gathers the input from Kubernetes and the
// GCS and applies the decision with the KubeRay patch protocol.
//
// The model follows Ray's resource-demand scheduler: demand is bin-packed
// onto free capacity first (running nodes, then pods that are starting),
// then onto new nodes, choosing for each the node type that wastes the least
// (utilisation after packing the remaining demand on one such node), then the
// higher priority; groups never exceed maxReplicas and never go below
// minReplicas. Conservative upscaling (Ray's upscaling_speed=1) keeps the
// number of nodes being started at most the number of running nodes.
package planner
