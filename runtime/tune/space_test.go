package tune

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestVariants(t *testing.T) {
	space := Space{
		"lr":     LogUniform(1e-4, 1e-1),
		"x":      Uniform(-1, 1),
		"q":      QUniform(0, 10, 2.5),
		"n":      RandInt(3, 6),
		"act":    Choice("relu", "tanh"),
		"layers": GridSearch(1, 2, 3),
		"opt":    GridSearch("sgd", "adam"),
		"fixed":  42,
		"twice":  SampleFrom(func(c Config, _ *rand.Rand) any { return 2 * c.Float("x") }),
	}
	if err := space.check(); err != nil {
		t.Fatal(err)
	}
	vs := space.variants(4, rand.New(rand.NewPCG(1, 1)))
	if len(vs) != 4*3*2 {
		t.Fatalf("%d variants, want 4 samples × 6 grid points", len(vs))
	}
	grid := map[[2]any]int{}
	for _, c := range vs {
		grid[[2]any{c["layers"], c["opt"]}]++
		if lr := c.Float("lr"); lr < 1e-4 || lr >= 1e-1 {
			t.Errorf("lr %v", lr)
		}
		if q := c.Float("q"); q != 0 && q != 2.5 && q != 5 && q != 7.5 && q != 10 {
			t.Errorf("q %v is not a multiple of 2.5 in [0, 10]", q)
		}
		if n := c.Int("n"); n < 3 || n >= 6 {
			t.Errorf("n %v", n)
		}
		if c.String("act") != "relu" && c.String("act") != "tanh" {
			t.Errorf("act %v", c["act"])
		}
		if c.Int("fixed") != 42 || c.Float("twice") != 2*c.Float("x") {
			t.Errorf("fixed %v, twice %v for x %v", c["fixed"], c["twice"], c["x"])
		}
	}
	if len(grid) != 6 {
		t.Fatalf("grid points covered: %v", grid)
	}
	again := space.variants(4, rand.New(rand.NewPCG(1, 1)))
	if !reflect.DeepEqual(vs, again) {
		t.Fatal("the same seed drew other configs")
	}
	for _, bad := range []Space{{"a": Uniform(1, 1)}, {"a": LogUniform(0, 1)}, {"a": Choice()}, {"a": GridSearch()}, {"a": RandInt(2, 2)}} {
		if bad.check() == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
