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
	ctx := context.Background()
	if err := ray.Init(ctx); err != nil {
		log.Fatal(err)
	}
	defer ray.Shutdown()
	n, err := demos.RunCounter(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("counter:", n)
}
