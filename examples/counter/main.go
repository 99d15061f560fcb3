// Command counter increments a named actor and reads it back through GetActor.
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
	n, err := demos.RunCounter(ctx)
	if err != nil {
		return err
	}
	fmt.Println("counter:", n)
	return nil
}
