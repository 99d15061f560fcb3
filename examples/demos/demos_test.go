package demos

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/ray"
)

func TestMain(m *testing.M) {
	ctx := context.Background()
	if err := ray.Init(ctx, ray.WithNumCPUs(2)); err != nil { // a worker process serves here forever
		panic(err)
	}
	code := m.Run()
	ray.Shutdown()
	os.Exit(code)
}

func TestSquare(t *testing.T) {
	out, err := RunSquare(context.Background())
	if err != nil || out != "[0 1 4 9]" {
		t.Fatalf("got %q %v", out, err)
	}
}

func TestPi(t *testing.T) {
	pi, err := RunPi(context.Background(), 8, 20000)
	if err != nil || math.Abs(pi-math.Pi) > 0.05 {
		t.Fatalf("pi=%v err=%v", pi, err)
	}
}

func TestCounter(t *testing.T) {
	n, err := RunCounter(context.Background())
	if err != nil || n != 10 {
		t.Fatalf("counter=%d err=%v", n, err)
	}
}

func TestWordCount(t *testing.T) {
	top, err := RunWordCount(context.Background(), Docs, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(top, " "); got != "dog=5 the=5 fox=4" {
		t.Fatalf("top words: %s", got)
	}
}
