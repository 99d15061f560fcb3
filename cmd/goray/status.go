package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

func defaultAddress() string {
	if a := os.Getenv("GORAY_ADDRESS"); a != "" {
		return a
	}
	if b, err := os.ReadFile(filepath.Join(tmpRoot(nil), "gcs_address")); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "127.0.0.1:6379"
}

func statusCmd() *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show nodes, used/total resources and pending demand (like 'ray status')",
		RunE: func(cmd *cobra.Command, args []string) error {
			if address == "" {
				address = defaultAddress()
			}
			conn, err := dialGCS(address)
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			st, err := rpcpb.NewGcsClient(conn).GetClusterStatus(ctx, &rpcpb.Empty{})
			if err != nil {
				return explainGCS(address, err)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cmd.Flags().StringVar(&address, "address", "", "GCS address (default $GORAY_ADDRESS, then the head started on this machine)")
	return cmd
}

func fmtRes(k string, v float64) string {
	if k == "memory" || k == "object_store_memory" {
		return fmt.Sprintf("%.2fGiB", v/(1<<30))
	}
	return fmt.Sprintf("%g", v)
}

func printStatus(w io.Writer, st *rpcpb.ClusterStatus) {
	fmt.Fprintf(w, "======== Cluster status: %s ========\nNode status\n---------------------------------------------------------------\n", st.SessionName)
	total, used := map[string]float64{}, map[string]float64{}
	fmt.Fprintln(w, "Active:")
	var dead []*rpcpb.NodeView
	for _, n := range st.Nodes {
		if !n.Alive {
			dead = append(dead, n)
			continue
		}
		kind := "worker"
		if n.IsHead {
			kind = "head"
		}
		fmt.Fprintf(w, " 1 node_%s (%s, %s) type=%q instance=%q status=%s idle=%dms\n", n.NodeId, kind, n.Ip, n.NodeTypeName, n.InstanceId, n.Status, n.IdleDurationMs)
		for k, v := range n.Total {
			total[k] += v
			used[k] += v - n.Available[k]
		}
	}
	fmt.Fprintln(w, "Dead:")
	for _, n := range dead {
		fmt.Fprintf(w, " 1 node_%s (%s): %s\n", n.NodeId, n.Ip, n.DeathReason)
	}
	fmt.Fprintf(w, "\nResources\n---------------------------------------------------------------\nUsage:\n")
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, " %s/%s %s\n", fmtRes(k, used[k]), fmtRes(k, total[k]), k)
	}
	fmt.Fprintf(w, "\nDemands:\n")
	if len(st.Pending) == 0 && len(st.PendingGangs) == 0 {
		fmt.Fprintln(w, " (no resource demands)")
	}
	for _, d := range st.Pending {
		inf := ""
		if d.Infeasible {
			inf = " (infeasible: no node type can hold it)"
		}
		on := ""
		if len(d.LabelSelector) > 0 {
			on = " on nodes labelled " + scheduler.Selector(d.LabelSelector).String()
			if d.Infeasible {
				inf = " (infeasible: no node type with those labels can hold it)"
			}
		}
		fmt.Fprintf(w, " %v%s: %d+ pending tasks/actors%s\n", d.Shape, on, d.Count, inf)
	}
	for _, g := range st.PendingGangs {
		var bs []string
		for _, b := range g.Bundles {
			bs = append(bs, fmt.Sprint(b.Resources))
		}
		fmt.Fprintf(w, " %s placement group %s: [%s]\n", g.Strategy, g.PlacementGroupId, strings.Join(bs, ", "))
	}
	for _, c := range st.Constraints {
		fmt.Fprintf(w, " %v: %d requested by RequestResources\n", c.Shape, c.Count)
	}
	fmt.Fprintf(w, "\nActors: %d alive, %d pending\n", st.AliveActors, st.PendingActors)
	printAutoscaling(w, st.AutoscalingState)
}
