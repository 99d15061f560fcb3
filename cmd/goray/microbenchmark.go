package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/goray-dev/goray/runtime/bench"
	"github.com/goray-dev/goray/runtime/ray"
)

func microbenchmarkCmd() *cobra.Command {
	var scale, eventsAB int
	var cpuProfile, only string
	var cpu bool
	var envelope float64
	var simNodes []int
	var simWindow time.Duration
	cmd := &cobra.Command{
		Use:   "microbenchmark",
		Short: "Run Ray's core microbenchmarks (and a raw gRPC round trip floor) on an embedded local cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			var match func(string) bool
			if only != "" {
				re, err := regexp.Compile(only)
				if err != nil {
					return fmt.Errorf("--run: %w", err)
				}
				match = re.MatchString
				if envelope == 0 && !slices.ContainsFunc(bench.Names(), match) {
					return fmt.Errorf("--run %q matches no benchmark (%s)", only, strings.Join(bench.Names(), ", "))
				}
			}
			ctx := context.Background()
			host, _ := os.Hostname()
			fmt.Printf("goray microbenchmark: %s, %d CPUs, %s, %s\n", host, runtime.NumCPU(), runtime.Version(), time.Now().Format(time.RFC3339))
			if cpuProfile != "" {
				f, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			if len(simNodes) > 0 {
				// A GCS alone (the embedded cluster is not used), the
				// simulated nodes in a child process.
				return bench.SimulatedNodes(ctx, os.Stdout, simNodes, simWindow)
			}
			if err := ray.Init(ctx); err != nil {
				return err
			}
			defer ray.Shutdown()
			if envelope > 0 {
				return bench.Envelope(ctx, os.Stdout, envelope, match)
			}
			if eventsAB > 0 {
				_, err := bench.EventsAB(ctx, os.Stdout, scale, eventsAB, match)
				return err
			}
			_, err := bench.Run(ctx, os.Stdout, scale, match, cpu)
			return err
		},
	}
	cmd.Flags().IntVar(&scale, "scale", 1, "multiply the iteration counts")
	cmd.Flags().StringVar(&only, "run", "", "run only the benchmarks whose names match this regular expression (e.g. 'tasks_(sync|async)')")
	cmd.Flags().IntVar(&eventsAB, "task-events-ab", 0, "instead: measure what task events cost — tasks_sync, tasks_async and 1_1_actor_calls_async this many rounds each with this process's task events off and on, alternating, and print the medians and the on/off ratio")
	cmd.Flags().BoolVar(&cpu, "cpu", false, "also print the CPU seconds each benchmark used in this process and the cluster's processes under it (steadier than the rate on a busy machine)")
	cmd.Flags().Float64Var(&envelope, "envelope", 0, "instead: run the scale envelope (1,000,000 queued tasks, 1,000,000 live objects, a Get of 10,000 refs, 10,000 lightweight actors) with its counts times this factor (1: as stated)")
	cmd.Flags().IntSliceVar(&simNodes, "simulated-nodes", nil, "instead: measure one GCS's CPU with this many simulated nodes heartbeating (e.g. 50,100,250), and place 10,000 queued tasks on its view")
	cmd.Flags().DurationVar(&simWindow, "simulated-window", 20*time.Second, "how long each --simulated-nodes count is measured")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the driver process (go tool pprof) to this file")
	return cmd
}

// fakeNodesCmd runs the simulated nodes of `microbenchmark --simulated-nodes`
// (a child process, so that the GCS's process does nothing else).
func fakeNodesCmd() *cobra.Command {
	return &cobra.Command{
		Use:    bench.FakeNodesCommand + " GCS_ADDRESS COUNT",
		Hidden: true,
		Args:   cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n <= 0 {
				return fmt.Errorf("count %q: want a positive number", args[1])
			}
			return bench.FakeNodes(cmd.Context(), args[0], n)
		},
	}
}
