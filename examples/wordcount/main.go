// Command wordcount is a map-reduce word count whose tasks pass object refs.
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
	top, err := demos.RunWordCount(ctx, demos.Docs, 5)
	if err != nil {
		return err
	}
	for _, l := range top {
		fmt.Println(l)
	}
	return nil
}
