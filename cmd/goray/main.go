// Command goray is the runtime's CLI: start a head or worker node, stop the
// nodes started on this machine, show cluster status, and run the
// microbenchmark. Node managers also exec this binary as a worker process
// (GORAY_WORKER=1) for the microbenchmark's tasks.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/goray-dev/goray/runtime/ray"
)

func main() {
	if ray.IsWorker() {
		_ = ray.Init(context.Background()) // serves tasks, never returns
	}
	root := &cobra.Command{Use: "goray", Short: "goray runtime: nodes, status and benchmarks", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(startCmd(), stopCmd(), statusCmd(), microbenchmarkCmd(), fakeNodesCmd(), jobCmd(), dashboardCmd(), autoscalerCmd(), requestResourcesCmd(), serveCmd(), getAuthTokenCmd(), gcsCleanupCmd(),
		listCmd(), getCmd(), summaryCmd(), logsCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
