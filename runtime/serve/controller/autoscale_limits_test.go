package controller

import (
	"math"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Extreme (but accepted by the code's options) autoscaling numbers scale to
// the bounds, never through an undefined float-to-int conversion.
func TestDecideWithExtremeNumbers(t *testing.T) {
	now := time.Unix(1000, 0)
	huge := 1e308
	for _, c := range []struct {
		name    string
		a       schema.Autoscaling
		current int
		ongoing float64
		want    int
	}{
		{"tiny target", schema.Autoscaling{MinReplicas: 1, MaxReplicas: 10, TargetOngoingRequests: 1e-300}, 1, 5, 10},
		{"huge upscaling_factor", schema.Autoscaling{MinReplicas: 1, MaxReplicas: 10, TargetOngoingRequests: 1, UpscalingFactor: &huge}, 1, 5, 10},
		{"huge downscaling_factor", schema.Autoscaling{MinReplicas: 2, MaxReplicas: 10, TargetOngoingRequests: 1, DownscalingFactor: &huge}, 8, 1, 2},
		{"infinite load", schema.Autoscaling{MinReplicas: 1, MaxReplicas: 10, TargetOngoingRequests: 1}, 3, math.Inf(1), 10},
		{"NaN load", schema.Autoscaling{MinReplicas: 1, MaxReplicas: 10, TargetOngoingRequests: 1}, 3, math.NaN(), 3},
	} {
		got, _ := Decide(c.a, nil, c.current, c.ongoing, now, ScaleState{})
		if got != c.want {
			t.Errorf("%s: %d replicas, want %d", c.name, got, c.want)
		}
	}
}
