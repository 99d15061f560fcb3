package raycluster_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/operator"
)

// TestRestartDuringScaleUpCreatesNoDuplicates stops the operator after a few
// of a large scale-up's pods exist, starts a fresh one, and checks that the
// group ends with exactly the desired number of pods.
func TestRestartDuringScaleUpCreatesNoDuplicates(t *testing.T) {
	ctx := context.Background()
	const ns, desired = "restart", 12

	var creates atomic.Int32
	stopAfter := make(chan struct{})
	stopFirst, err := startOperator(ctx, []string{ns}, func(o *operator.Options) {
		o.Concurrency = 1
		// Count pod creates on the wire, so the first operator is stopped in
		// the middle of its scale-up.
		o.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/pods") {
					if creates.Add(1) == 5 {
						close(stopAfter)
					}
				}
				return rt.RoundTrip(req)
			})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, newCluster(ns, "rs", workerGroup("g", desired, 0, 100))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopAfter:
	case <-time.After(30 * time.Second):
		t.Fatal("the first operator never created pods")
	}
	stopFirst()
	mid, _ := pods(ctx, ns, "rs")
	t.Logf("first operator stopped with %d pods", len(mid))
	if len(mid) >= desired+1 {
		t.Fatalf("the first operator finished the scale-up before it was stopped (%d pods)", len(mid))
	}

	stopSecond, err := startOperator(ctx, []string{ns}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stopSecond()
	waitForCounts(t, ctx, ns, "rs", desired)
	consistently(t, "exactly the desired pods", 2*time.Second, func() (bool, error) {
		ps, err := pods(ctx, ns, "rs")
		return len(ps) == desired+1, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
