// Command pi estimates pi by Monte Carlo sampling in parallel tasks.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/goray-dev/goray/examples/demos"
	"github.com/goray-dev/goray/runtime/ray"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	if err := ray.Init(ctx); err != nil {
		return err
	}
	defer ray.Shutdown()
	pi, err := demos.RunPi(ctx, 16, 1_000_000)
	if err != nil {
		return err
	}
	fmt.Printf("pi ≈ %.5f\n", pi)
	return nil
}
