// Command square is Ray's front-page example in Go: square four numbers in
// parallel tasks and print [0 1 4 9]. It runs on an embedded local cluster,
// or on the cluster at GORAY_ADDRESS.
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/goray-dev/goray/runtime/ray"
)

var Square = ray.Task("square", func(ctx context.Context, x int) (int, error) { return x * x, nil })

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
	var refs []ray.Ref[int]
	for i := 0; i < 4; i++ {
		refs = append(refs, Square.Remote(ctx, i))
	}
	out, err := ray.GetAll(ctx, refs...)
	if err != nil {
		return err
	}
	fmt.Println(out)
	return nil
}
