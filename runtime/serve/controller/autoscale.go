package controller

import (
	"math"
	"time"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

// ScaleState is what the autoscaling decision remembers between calls: since
// when it has wanted to scale up, and down (zero when it does not).
type ScaleState struct {
	UpSince, DownSince time.Time
}

// Bounds are an autoscaling config's min and max replicas scaled by
// target_capacity (percent, nil = 100).
func Bounds(a schema.Autoscaling, capacity *float64) (lo, hi int) {
	return schema.CapacityAdjusted(a.MinReplicas, capacity), schema.CapacityAdjusted(a.MaxReplicas, capacity)
}

// InitialReplicas is where an autoscaled deployment starts.
func InitialReplicas(a schema.Autoscaling, capacity *float64) int {
	lo, hi := Bounds(a, capacity)
	n := lo
	if a.InitialReplicas != nil {
		n = schema.CapacityAdjusted(*a.InitialReplicas, capacity)
	}
	return max(lo, min(hi, n))
}

// Decide is Ray's default replica autoscaling policy as a pure function:
// the desired count is the total ongoing requests (averaged over the look-back
// window by the caller) over target_ongoing_requests, moved toward by
// upscaling/downscaling_factor, clamped to [min, max]; a change is made only
// once it has been wanted continuously for upscale_delay_s (up) or
// downscale_delay_s (down; downscale_to_zero_delay_s for the last replica).
// Scaling up from zero replicas is immediate.
func Decide(a schema.Autoscaling, capacity *float64, current int, ongoing float64, now time.Time, st ScaleState) (int, ScaleState) {
	lo, hi := Bounds(a, capacity)
	clamp := func(n int) int { return max(lo, min(hi, n)) }
	if current < lo || current > hi {
		return clamp(current), ScaleState{}
	}
	raw := 0.0
	if a.TargetOngoingRequests > 0 {
		raw = ongoing / a.TargetOngoingRequests
	}
	desired := float64(current)
	switch {
	case raw > float64(current):
		f := 1.0
		if a.UpscalingFactor != nil {
			f = *a.UpscalingFactor
		}
		desired = float64(current) + f*(raw-float64(current))
	case raw < float64(current):
		f := 1.0
		if a.DownscalingFactor != nil {
			f = *a.DownscalingFactor
		}
		desired = float64(current) - f*(float64(current)-raw)
	}
	// Clamp before converting: a float beyond an int (a tiny target, a huge
	// factor) converts to whatever the platform makes of it.
	if math.IsNaN(desired) {
		desired = float64(current)
	}
	desired = max(float64(lo), min(float64(hi), desired))
	want := clamp(int(math.Ceil(desired - 1e-9)))
	if current == 0 && ongoing > 0 {
		want = clamp(max(1, want))
	}
	switch {
	case want > current:
		if current == 0 {
			return want, ScaleState{}
		}
		if st.UpSince.IsZero() {
			st = ScaleState{UpSince: now}
		}
		st.DownSince = time.Time{}
		if now.Sub(st.UpSince) >= seconds(a.UpscaleDelayS) {
			return want, ScaleState{}
		}
		return current, st
	case want < current:
		if st.DownSince.IsZero() {
			st = ScaleState{DownSince: now}
		}
		st.UpSince = time.Time{}
		delay := seconds(a.DownscaleDelayS)
		if want == 0 && current == 1 && a.DownscaleToZeroDelayS != nil {
			delay = seconds(*a.DownscaleToZeroDelayS)
		}
		if now.Sub(st.DownSince) >= delay {
			return want, ScaleState{}
		}
		return current, st
	}
	return current, ScaleState{}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
