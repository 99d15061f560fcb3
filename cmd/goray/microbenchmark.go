package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/goray-dev/goray/runtime/bench"
	"github.com/goray-dev/goray/runtime/ray"
)

func microbenchmarkCmd() *cobra.Command {
	var scale int
	cmd := &cobra.Command{
		Use:   "microbenchmark",
		Short: "Run Ray's core microbenchmarks (and a raw gRPC round trip floor) on an embedded local cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			if err := ray.Init(ctx); err != nil {
				return err
			}
			defer ray.Shutdown()
			host, _ := os.Hostname()
			fmt.Printf("goray microbenchmark: %s, %d CPUs, %s, %s\n", host, runtime.NumCPU(), runtime.Version(), time.Now().Format(time.RFC3339))
			_, err := bench.Run(ctx, os.Stdout, scale)
			return err
		},
	}
	cmd.Flags().IntVar(&scale, "scale", 1, "multiply the iteration counts")
	return cmd
}
