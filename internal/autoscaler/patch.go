package autoscaler

import (
	"fmt"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// Op is one JSON patch (RFC 6902) operation.
type Op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// ScaleStrategyValue is the value written to a group's scaleStrategy.
type ScaleStrategyValue struct {
	WorkersToDelete []string `json:"workersToDelete"`
}

// BuildPatch is KubeRay's node-provider patch: for every group whose target
// differs, `replace /spec/workerGroupSpecs/<i>/replicas`; for every group
// with pods to delete, `replace …/scaleStrategy` {workersToDelete: pods};
// for every group whose old list is done, the list cleared to []. Each
// touched group is guarded by a `test` of its groupName, so a concurrent
// reordering of the groups fails the patch instead of scaling the wrong
// group. hasScaleStrategy[i] says whether group i has the field (replace
// needs it; add is used otherwise). Returns nil when nothing changes.
func BuildPatch(rc *rayv1.RayCluster, hasScaleStrategy []bool, targets map[string]int32, deletes map[string][]string) []Op {
	var ops []Op
	for i, g := range rc.Spec.WorkerGroupSpecs {
		var group []Op
		base := fmt.Sprintf("/spec/workerGroupSpecs/%d", i)
		if t, ok := targets[g.GroupName]; ok && (g.Replicas == nil || *g.Replicas != t) {
			op := "replace"
			if g.Replicas == nil {
				op = "add"
			}
			group = append(group, Op{Op: op, Path: base + "/replicas", Value: t})
		}
		del := deletes[g.GroupName]
		if len(del) > 0 || len(g.ScaleStrategy.WorkersToDelete) > 0 {
			op := "replace"
			if i >= len(hasScaleStrategy) || !hasScaleStrategy[i] {
				op = "add"
			}
			if del == nil {
				del = []string{}
			}
			if !equalStrings(del, g.ScaleStrategy.WorkersToDelete) {
				group = append(group, Op{Op: op, Path: base + "/scaleStrategy", Value: ScaleStrategyValue{WorkersToDelete: del}})
			}
		}
		if len(group) > 0 {
			ops = append(ops, Op{Op: "test", Path: base + "/groupName", Value: g.GroupName})
			ops = append(ops, group...)
		}
	}
	return ops
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
