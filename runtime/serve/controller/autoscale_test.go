package controller

import (
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

func fp(f float64) *float64 { return &f }
func ip(i int) *int         { return &i }

func TestDecide(t *testing.T) {
	t0 := time.Unix(1000, 0)
	base := (&schema.AutoscalingConfig{MinReplicas: ip(1), MaxReplicas: ip(10), UpscaleDelayS: fp(30), DownscaleDelayS: fp(600)}).Resolve(false)
	type step struct {
		at      time.Duration
		ongoing float64
		want    int
	}
	cases := []struct {
		name     string
		cfg      schema.Autoscaling
		capacity *float64
		start    int
		steps    []step
	}{
		{"steady load keeps the count", base, nil, 2, []step{{0, 4, 2}, {time.Hour, 4, 2}}},
		{"upscale waits for upscale_delay_s", base, nil, 1, []step{{0, 8, 1}, {29 * time.Second, 8, 1}, {30 * time.Second, 8, 4}}},
		{"a dip resets the upscale delay", base, nil, 1, []step{{0, 8, 1}, {20 * time.Second, 2, 1}, {31 * time.Second, 8, 1}, {61 * time.Second, 8, 4}}},
		{"upscale is clamped to max_replicas", base, nil, 1, []step{{0, 100, 1}, {30 * time.Second, 100, 10}}},
		{"downscale waits for downscale_delay_s", base, nil, 4, []step{{0, 0, 4}, {599 * time.Second, 0, 4}, {600 * time.Second, 0, 1}}},
		{"downscale is clamped to min_replicas", (&schema.AutoscalingConfig{MinReplicas: ip(2), MaxReplicas: ip(5), DownscaleDelayS: fp(1)}).Resolve(false), nil, 5,
			[]step{{0, 0, 5}, {time.Second, 0, 2}}},
		{"target_ongoing_requests divides the load", (&schema.AutoscalingConfig{MaxReplicas: ip(10), TargetOngoingRequests: fp(5), UpscaleDelayS: fp(0)}).Resolve(false), nil, 1,
			[]step{{0, 11, 3}}},
		{"upscaling_factor damps the step", (&schema.AutoscalingConfig{MaxReplicas: ip(20), UpscaleDelayS: fp(0), UpscalingFactor: fp(0.5)}).Resolve(false), nil, 2,
			[]step{{0, 20, 6}}},
		{"target_capacity scales the bounds", base, fp(50), 1, []step{{0, 100, 1}, {30 * time.Second, 100, 5}}},
		{"out of bounds snaps at once", base, nil, 20, []step{{0, 40, 10}}},
		{"scale from zero is immediate", (&schema.AutoscalingConfig{MinReplicas: ip(0), MaxReplicas: ip(3)}).Resolve(false), nil, 0, []step{{0, 1, 1}}},
		{"downscale to zero uses its own delay", (&schema.AutoscalingConfig{MinReplicas: ip(0), MaxReplicas: ip(3), DownscaleDelayS: fp(10), DownscaleToZeroDelayS: fp(100)}).Resolve(false), nil, 1,
			[]step{{0, 0, 1}, {10 * time.Second, 0, 1}, {100 * time.Second, 0, 0}}},
		{"auto defaults reach 100", (&schema.AutoscalingConfig{UpscaleDelayS: fp(0)}).Resolve(true), nil, 1, []step{{0, 1000, 100}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur, st := c.start, ScaleState{}
			for i, s := range c.steps {
				cur, st = Decide(c.cfg, c.capacity, cur, s.ongoing, t0.Add(s.at), st)
				if cur != s.want {
					t.Fatalf("step %d (t+%v, ongoing %v): got %d replicas, want %d", i, s.at, s.ongoing, cur, s.want)
				}
			}
		})
	}
}

func TestInitialReplicas(t *testing.T) {
	a := (&schema.AutoscalingConfig{MinReplicas: ip(1), MaxReplicas: ip(8), InitialReplicas: ip(4)}).Resolve(false)
	if n := InitialReplicas(a, nil); n != 4 {
		t.Fatalf("initial = %d, want 4", n)
	}
	if n := InitialReplicas(a, fp(25)); n != 1 {
		t.Fatalf("initial at 25%% = %d, want 1", n)
	}
	if n := InitialReplicas((&schema.AutoscalingConfig{MinReplicas: ip(2), MaxReplicas: ip(8)}).Resolve(false), nil); n != 2 {
		t.Fatalf("initial without initial_replicas = %d, want min 2", n)
	}
}
