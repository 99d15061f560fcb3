package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// printAutoscaling is the autoscaler section of `goray status`: its last
// decision, target replicas, pods being removed, and the demand it will not
// scale for (infeasible) or cannot yet (maxReplicas, upscaling speed).
func printAutoscaling(w io.Writer, a *rpcpb.AutoscalingState) {
	fmt.Fprintf(w, "\nAutoscaler\n---------------------------------------------------------------\n")
	if a == nil {
		fmt.Fprintln(w, " (no autoscaler has reported)")
		return
	}
	fmt.Fprintf(w, " Cluster: %s (report %s ago)\n", a.ClusterName, since(a.TimestampMs))
	fmt.Fprintf(w, " Last decision (%s ago): %s\n", since(a.LastDecisionTimestampMs), a.LastDecision)
	groups := make([]string, 0, len(a.TargetReplicas))
	for g := range a.TargetReplicas {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	var ts []string
	for _, g := range groups {
		ts = append(ts, fmt.Sprintf("%s=%d", g, a.TargetReplicas[g]))
	}
	fmt.Fprintf(w, " Target replicas: %s\n", strings.Join(ts, " "))
	if len(a.PendingDeletes) > 0 {
		fmt.Fprintf(w, " Removing: %s\n", strings.Join(a.PendingDeletes, " "))
	}
	fmt.Fprintln(w, " Infeasible requests:")
	if len(a.Infeasible) == 0 && len(a.InfeasibleGangs) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, d := range a.Infeasible {
		fmt.Fprintf(w, "  %v: %d (no worker group can hold it)\n", d.Shape, d.Count)
	}
	for _, g := range a.InfeasibleGangs {
		var bs []string
		for _, b := range g.Bundles {
			bs = append(bs, fmt.Sprint(b.Resources))
		}
		fmt.Fprintf(w, "  %s placement group %s: [%s]\n", g.Strategy, g.PlacementGroupId, strings.Join(bs, ", "))
	}
	for _, d := range a.Unmet {
		fmt.Fprintf(w, " Waiting (maxReplicas or upscaling speed): %v: %d\n", d.Shape, d.Count)
	}
	if a.Error != "" {
		fmt.Fprintf(w, " Last error: %s\n", a.Error)
	}
}

func since(ms int64) string {
	if ms == 0 {
		return "never"
	}
	return time.Since(time.UnixMilli(ms)).Round(100 * time.Millisecond).String()
}
