// Command goray-examples runs goray's examples by name (square, pi, counter,
// wordcount, batch-inference [DIR], tune [STORAGE]); the RayJob samples use
// it as their entrypoint. It connects to
// GORAY_ADDRESS when set, else runs an embedded local cluster. It also holds
// the serve applications "hello" (examples/hello), "streaming"
// (examples/streaming), "batching" (examples/batching), "multiplexing"
// (examples/multiplexing) and "greeter" (examples/greeter, a gRPC
// service): a serve config names them by import_path, and
// replicas run from this binary.
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	batchinference "github.com/goray-dev/goray/examples/batch-inference"
	_ "github.com/goray-dev/goray/examples/batching" // serve application "batching"
	"github.com/goray-dev/goray/examples/demos"
	_ "github.com/goray-dev/goray/examples/greeter"      // serve application "greeter"
	_ "github.com/goray-dev/goray/examples/hello"        // serve application "hello"
	_ "github.com/goray-dev/goray/examples/multiplexing" // serve application "multiplexing"
	_ "github.com/goray-dev/goray/examples/streaming"    // serve application "streaming"
	tunesearch "github.com/goray-dev/goray/examples/tune-search"
	"github.com/goray-dev/goray/runtime/ray"
)

func main() {
	ctx := context.Background()
	if ray.IsWorker() {
		_ = ray.Init(ctx) // a worker serves tasks until it exits; Init does not return
	}
	usage := "usage: goray-examples square|pi|counter|wordcount|batch-inference [DIR]|tune [STORAGE]"
	if len(os.Args) < 2 || len(os.Args) > 3 || len(os.Args) == 3 && os.Args[1] != "batch-inference" && os.Args[1] != "tune" {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if err := ray.Init(ctx); err != nil {
		log.Fatal(err)
	}
	var err error
	switch os.Args[1] {
	case "square":
		var out string
		out, err = demos.RunSquare(ctx)
		fmt.Println(out)
	case "pi":
		var pi float64
		pi, err = demos.RunPi(ctx, 16, 1_000_000)
		fmt.Printf("pi ≈ %.5f\n", pi)
	case "counter":
		var n int
		n, err = demos.RunCounter(ctx)
		fmt.Println("counter:", n)
	case "wordcount":
		var top []string
		top, err = demos.RunWordCount(ctx, demos.Docs, 5)
		fmt.Println(strings.Join(top, "\n"))
	case "batch-inference":
		// DIR: every node must see it at the same path (a shared volume).
		// A pool of up to two scoring actors.
		err = batchinference.Sample(ctx, os.Stdout, argOr(2, filepath.Join(os.TempDir(), "goray-batch-inference")), 2)
	case "tune":
		_, err = tunesearch.Run(ctx, os.Stdout, argOr(2, filepath.Join(os.TempDir(), "goray-tune")), tunesearch.StepTime)
	default:
		fmt.Fprintln(os.Stderr, usage)
		ray.Shutdown()
		os.Exit(2)
	}
	ray.Shutdown()
	if err != nil {
		log.Fatal(err)
	}
}

// argOr is os.Args[i], or def if there is none.
func argOr(i int, def string) string {
	if len(os.Args) > i {
		return os.Args[i]
	}
	return def
}
