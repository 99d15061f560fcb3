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
	ctx := context.Background()
	if err := ray.Init(ctx); err != nil {
		log.Fatal(err)
	}
	defer ray.Shutdown()
	top, err := demos.RunWordCount(ctx, demos.Docs, 5)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range top {
		fmt.Println(l)
	}
}
