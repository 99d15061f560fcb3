package collective

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
)

// members forms a group of n goroutine members on loopback and runs f in
// each; it returns their errors by rank.
func members(t *testing.T, n int, opts Options, f func(g *Group) error) []error {
	t.Helper()
	if opts.Rendezvous == nil {
		opts.Rendezvous = &MemoryRendezvous{}
	}
	if opts.Security == nil {
		sec := auth.NewToken("test-token")
		opts.Security = &sec
	}
	name := fmt.Sprintf("%s-%d", t.Name(), rand.Int())
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Go(func() {
			g, err := Init(context.Background(), name, n, r, opts)
			if err != nil {
				errs[r] = err
				return
			}
			defer g.Close()
			if want := n > 1 && !opts.NoSharedMemory && sharedMemoryHere; g.useShm != want {
				errs[r] = fmt.Errorf("the group uses shared memory: %v, want %v", g.useShm, want)
				return
			}
			errs[r] = f(g)
		})
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

// input is member r's data for a test: distinct per member and index.
func input[T Float](r, l int) []T {
	xs := make([]T, l)
	for i := range xs {
		xs[i] = T((r+1)*1000 + i%997)
	}
	return xs
}

func reference[T Float](n, l int, op ReduceOp) []T {
	out := input[T](0, l)
	for r := 1; r < n; r++ {
		reduceInto(out, input[T](r, l), op)
	}
	if op == Mean {
		for i := range out {
			out[i] /= T(n)
		}
	}
	return out
}

func equal[T Float](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6*math.Max(1, math.Abs(float64(b[i]))) {
			return false
		}
	}
	return true
}

var sizes = []int{0, 1, 3, 1000, 100_003}

// transports are the two ways members move data: shared memory (members
// on one machine, the default) and the ring's TCP connections.
var transports = []struct {
	name string
	opts Options
}{{"shm", Options{}}, {"ring", Options{NoSharedMemory: true}}}

func TestAllReduce(t *testing.T) {
	for _, tr := range transports {
		for n := 1; n <= 8; n++ {
			for _, l := range sizes {
				for _, op := range []ReduceOp{Sum, Product, Min, Max, Mean} {
					if op == Product && l > 1000 {
						continue // products of 8 members' values overflow float32
					}
					t.Run(fmt.Sprintf("%s/n%d/len%d/%s", tr.name, n, l, op), func(t *testing.T) {
						testAllReduce(t, n, l, op, tr.opts)
					})
				}
			}
		}
	}
}

func testAllReduce(t *testing.T, n, l int, op ReduceOp, opts Options) {
	want32, want64 := reference[float32](n, l, op), reference[float64](n, l, op)
	noErrors(t, members(t, n, opts, func(g *Group) error {
		a, b := input[float32](g.Rank(), l), input[float64](g.Rank(), l)
		if err := AllReduce(context.Background(), g, a, op); err != nil {
			return err
		}
		if err := AllReduce(context.Background(), g, b, op); err != nil {
			return err
		}
		if !equal(a, want32) || !equal(b, want64) {
			return errors.New("wrong result")
		}
		return nil
	}))
}

func TestReduceScatterAllGatherBroadcastBarrier(t *testing.T) {
	for _, tr := range transports {
		for _, n := range []int{1, 2, 3, 5, 8} {
			for _, l := range sizes {
				t.Run(fmt.Sprintf("%s/n%d/len%d", tr.name, n, l), func(t *testing.T) { testOtherOps(t, n, l, tr.opts) })
			}
		}
	}
}

func testOtherOps(t *testing.T, n, l int, opts Options) {
	sum := reference[float64](n, l, Sum)
	noErrors(t, members(t, n, opts, func(g *Group) error {
		r := g.Rank()
		in := input[float64](r, l)
		part, err := ReduceScatter(context.Background(), g, in, Sum)
		if err != nil {
			return err
		}
		if lo, hi := bounds(r, n, l); !equal(part, sum[lo:hi]) {
			return fmt.Errorf("ReduceScatter: part %d wrong", r)
		}
		if !equal(in, input[float64](r, l)) {
			return errors.New("ReduceScatter changed its input")
		}
		all, err := AllGather(context.Background(), g, input[float32](r, l))
		if err != nil {
			return err
		}
		for m := range n {
			if !equal(all[m*l:(m+1)*l], input[float32](m, l)) {
				return fmt.Errorf("AllGather: member %d's part wrong", m)
			}
		}
		root := n / 2
		buf := make([]float32, l)
		if r == root {
			buf = input[float32](root, l)
		}
		if err := Broadcast(context.Background(), g, buf, root); err != nil {
			return err
		}
		if !equal(buf, input[float32](root, l)) {
			return errors.New("Broadcast: wrong data")
		}
		return Barrier(context.Background(), g)
	}))
}

// A member that leaves mid-operation: every other member's operation fails
// with ErrMemberLost well within the timeout, and the group stays broken.
func TestAMemberLostFailsEveryone(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			const n = 5
			timeout := 20 * time.Second
			start := time.Now()
			errs := members(t, n, Options{Timeout: timeout, NoSharedMemory: tr.opts.NoSharedMemory}, func(g *Group) error {
				if g.Rank() == 2 {
					g.Close() // gone before it takes part
					return nil
				}
				err := AllReduce(context.Background(), g, make([]float32, 1<<20), Sum)
				if err == nil {
					return errors.New("an AllReduce without member 2 succeeded")
				}
				if !errors.Is(err, ErrMemberLost) {
					return fmt.Errorf("want ErrMemberLost, got %w", err)
				}
				if err2 := Barrier(context.Background(), g); err2 == nil {
					return errors.New("a broken group ran a barrier")
				}
				return nil
			})
			noErrors(t, errs)
			if took := time.Since(start); took > timeout/2 {
				t.Fatalf("the failure took %v to reach every member", took)
			}
		})
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			// Member 1 never calls: member 0's operation ends at its context's deadline.
			errs := members(t, 2, Options{Timeout: 200 * time.Millisecond, NoSharedMemory: tr.opts.NoSharedMemory}, func(g *Group) error {
				if g.Rank() == 1 {
					time.Sleep(time.Second)
					return nil
				}
				err := AllReduce(context.Background(), g, make([]float64, 10), Sum)
				if !errors.Is(err, context.DeadlineExceeded) {
					return fmt.Errorf("want a deadline error, got %w", err)
				}
				return nil
			})
			noErrors(t, errs)
			errs = members(t, 2, Options{NoSharedMemory: tr.opts.NoSharedMemory}, func(g *Group) error {
				if g.Rank() == 1 {
					time.Sleep(500 * time.Millisecond)
					return nil
				}
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(50*time.Millisecond, cancel)
				if err := AllReduce(ctx, g, make([]float64, 10), Sum); !errors.Is(err, context.Canceled) {
					return fmt.Errorf("want context.Canceled, got %w", err)
				}
				return nil
			})
			noErrors(t, errs)
		})
	}
}

// Members that call different operations get an error saying so.
func TestMismatchedOperations(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			errs := members(t, 2, Options{Timeout: 5 * time.Second, NoSharedMemory: tr.opts.NoSharedMemory}, func(g *Group) error {
				var err error
				if g.Rank() == 0 {
					err = AllReduce(context.Background(), g, make([]float32, 10), Sum)
				} else {
					err = AllReduce(context.Background(), g, make([]float64, 10), Sum)
				}
				if err == nil || !strings.Contains(err.Error(), "same operations") && !errors.Is(err, ErrMemberLost) {
					return fmt.Errorf("want a mismatch error, got %w", err)
				}
				return nil
			})
			noErrors(t, errs)
		})
	}
}

// A member with another token cannot join; the group does not form.
func TestWrongTokenIsRefused(t *testing.T) {
	rdv := &MemoryRendezvous{}
	good, bad := auth.NewToken("right"), auth.NewToken("wrong")
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, sec := range []*auth.Config{&good, &bad} {
		wg.Go(func() {
			g, err := Init(context.Background(), "tokens", 2, r, Options{Rendezvous: rdv, Security: sec, Timeout: 500 * time.Millisecond})
			if err == nil {
				g.Close()
			}
			errs[r] = err
		})
	}
	wg.Wait()
	if errs[0] == nil || errs[1] == nil {
		t.Fatalf("a group formed across tokens: %v", errs)
	}
}

func TestInitChecksItsArguments(t *testing.T) {
	for _, c := range []struct {
		name       string
		size, rank int
	}{{"", 2, 0}, {strings.Repeat("x", maxNameLen+1), 2, 0}, {"g", 0, 0}, {"g", 2, 2}, {"g", 2, -1}} {
		if _, err := Init(context.Background(), c.name, c.size, c.rank, Options{Rendezvous: &MemoryRendezvous{}}); err == nil {
			t.Errorf("Init(%q, %d, %d) accepted", c.name, c.size, c.rank)
		}
	}
}

// Reductions received in pieces (reduceSegment) smaller than a part, of
// a size that does not divide it: AllReduce and ReduceScatter still match
// the reference.
func TestReduceInPieces(t *testing.T) {
	defer func(s int) { reduceSegment = s }(reduceSegment)
	reduceSegment = 52 // 13 float32s, 6.5 float64s (6)
	for _, n := range []int{2, 3, 4} {
		for _, l := range []int{1, 100, 1003} {
			t.Run(fmt.Sprintf("n%d/len%d", n, l), func(t *testing.T) {
				want32, want64 := reference[float32](n, l, Sum), reference[float64](n, l, Max)
				noErrors(t, members(t, n, Options{}, func(g *Group) error {
					a, b := input[float32](g.Rank(), l), input[float64](g.Rank(), l)
					if err := AllReduce(context.Background(), g, a, Sum); err != nil {
						return err
					}
					if !equal(a, want32) {
						return errors.New("wrong all-reduce")
					}
					part, err := ReduceScatter(context.Background(), g, b, Max)
					if err != nil {
						return err
					}
					lo, hi := bounds(g.Rank(), n, l)
					if !equal(part, want64[lo:hi]) {
						return errors.New("wrong reduce-scatter")
					}
					return nil
				}))
			})
		}
	}
}
