package main

import "github.com/spf13/cobra"

func microbenchmarkCmd() *cobra.Command {
	return &cobra.Command{Use: "microbenchmark", Short: "Run the core microbenchmarks"}
}
