package planner

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/scheduler"
)

// Resources maps a resource name (CPU, GPU, memory, custom) to an amount.
type Resources = scheduler.Resources

// UpscalingMode is KubeRay's autoscalerOptions.upscalingMode.
type UpscalingMode string

// Upscaling modes.
const (
	Conservative UpscalingMode = "Conservative"
	Default      UpscalingMode = "Default"
	Aggressive   UpscalingMode = "Aggressive"
)

// NodeType is one worker group.
type NodeType struct {
	Name      string    `json:"name"`
	Resources Resources `json:"resources"`
	// Replicas is the group's current spec.replicas.
	Replicas    int32 `json:"replicas"`
	MinReplicas int32 `json:"minReplicas"`
	MaxReplicas int32 `json:"maxReplicas"`
	// NumOfHosts is the number of nodes (pods) per replica; 0 means 1.
	NumOfHosts int32 `json:"numOfHosts,omitempty"`
	// IdleTimeout overrides the cluster's idle timeout when positive.
	IdleTimeout time.Duration `json:"idleTimeout,omitempty"`
	Priority    int32         `json:"priority,omitempty"`
	// Labels are the labels its nodes start with (label selectors).
	Labels map[string]string `json:"labels,omitempty"`
}

func (t NodeType) hosts() int32 {
	if t.NumOfHosts < 1 {
		return 1
	}
	return t.NumOfHosts
}

// Node is one pod of the cluster, with its runtime state when it has
// registered with the GCS.
type Node struct {
	// Pod is the pod name (the node's RAY_CLOUD_INSTANCE_ID).
	Pod string `json:"pod"`
	// NodeID is the GCS node id; empty while the pod's runtime has not registered.
	NodeID string `json:"nodeID,omitempty"`
	Type   string `json:"type"`
	// Replica names the multi-host replica the pod belongs to (empty: the pod alone).
	Replica   string    `json:"replica,omitempty"`
	IsHead    bool      `json:"isHead,omitempty"`
	Total     Resources `json:"total,omitempty"`
	Available Resources `json:"available,omitempty"`
	// Idle is how long the node has had no leases, queued work or bundles.
	Idle time.Duration `json:"idle,omitempty"`
	// Busy: the node holds objects or actors someone still needs.
	Busy bool `json:"busy,omitempty"`
	// Draining: the runtime accepted a drain; it takes no new work.
	Draining bool `json:"draining,omitempty"`
	// PendingDelete: the pod is named in its group's workersToDelete.
	PendingDelete bool `json:"pendingDelete,omitempty"`
	// Labels are the node's labels as the GCS has them.
	Labels map[string]string `json:"labels,omitempty"`
}

func (n Node) registered() bool { return n.NodeID != "" }

func (n Node) replica() string {
	if n.Replica != "" {
		return n.Replica
	}
	return n.Pod
}

// Request is a resource shape and how many of it are waiting.
type Request struct {
	Shape Resources `json:"shape"`
	Count int       `json:"count"`
	// Labels is the requests' label selector: only nodes whose labels
	// match can take them (scheduler.Selector).
	Labels map[string]string `json:"labelSelector,omitempty"`
}

func (r Request) String() string {
	if len(r.Labels) > 0 {
		return fmt.Sprintf("%d×{%s} on %s", r.Count, r.Shape.Key(), scheduler.Selector(r.Labels))
	}
	return fmt.Sprintf("%d×{%s}", r.Count, r.Shape.Key())
}

// Gang is a pending placement group: all bundles or none.
type Gang struct {
	ID       string      `json:"id"`
	Strategy string      `json:"strategy"` // PACK, SPREAD, STRICT_PACK, STRICT_SPREAD
	Bundles  []Resources `json:"bundles"`
}

func (g Gang) String() string {
	var bs []string
	for _, b := range g.Bundles {
		bs = append(bs, "{"+b.Key()+"}")
	}
	return fmt.Sprintf("%s %s [%s]", g.Strategy, g.ID, strings.Join(bs, " "))
}

// Input is everything a decision depends on.
type Input struct {
	Types []NodeType `json:"types"`
	Nodes []Node     `json:"nodes"`
	// Pending are queued tasks and actors by shape (infeasible ones included).
	Pending []Request `json:"pending,omitempty"`
	Gangs   []Gang    `json:"gangs,omitempty"`
	// Constraints are RequestResources bundles: a minimum cluster shape.
	Constraints   []Request     `json:"constraints,omitempty"`
	UpscalingMode UpscalingMode `json:"upscalingMode,omitempty"`
	// IdleTimeout is the cluster's idle timeout (autoscalerOptions.idleTimeoutSeconds).
	IdleTimeout time.Duration `json:"idleTimeout"`
}

// Deletion is a pod to remove through workersToDelete.
type Deletion struct {
	Pod    string `json:"pod"`
	NodeID string `json:"nodeID,omitempty"`
	Type   string `json:"type"`
	// Replica is the multi-host replica (the pod name for single-host groups):
	// its pods go together.
	Replica string `json:"replica"`
	Reason  string `json:"reason"`
}

// Decision is the planner's output.
type Decision struct {
	// Replicas is the target spec.replicas of every group.
	Replicas map[string]int32 `json:"replicas"`
	// Launch is how many replicas each group gains for demand and floors.
	Launch map[string]int32 `json:"launch,omitempty"`
	// Delete are pods to remove (their groups' Replicas already count them out).
	Delete []Deletion `json:"delete,omitempty"`
	// Infeasible is demand no node type and no node could ever hold.
	Infeasible      []Request `json:"infeasible,omitempty"`
	InfeasibleGangs []Gang    `json:"infeasibleGangs,omitempty"`
	// Unmet is feasible demand left waiting by maxReplicas or the upscaling speed.
	Unmet []Request `json:"unmet,omitempty"`
	// Reasons explain the decision, one line each.
	Reasons []string `json:"reasons,omitempty"`
}

// Reason is the decision explained on one line.
func (d Decision) Reason() string {
	if len(d.Reasons) == 0 {
		return "no change"
	}
	return strings.Join(d.Reasons, "; ")
}

// Groups are the group names of Replicas in order.
func (d Decision) Groups() []string {
	out := make([]string, 0, len(d.Replicas))
	for g := range d.Replicas {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}
