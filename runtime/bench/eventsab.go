package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/goray-dev/goray/runtime/core"
)

// abSteps are the benchmarks whose cost with task events on the issue
// bounds (within 5% of off).
var abSteps = []string{"single_client_tasks_sync", "single_client_tasks_async", "1_1_actor_calls_async"}

// ABResult is one benchmark measured alternately with task events off and
// on in one process: the medians of each and of the per-round ratios.
type ABResult struct {
	Name                    string
	Off, On                 float64
	Ratio, RatioQ1, RatioQ3 float64
}

// EventsAB measures what task events cost: each selected benchmark runs
// rounds times with this process's task events paused and rounds times
// with them on, alternating (off-on, then on-off, so drift does not favour
// either), in one process with one warmed-up cluster — far less noise than
// comparing separate runs. The GCS gets in on-rounds what a process with
// events on sends; in off-rounds nothing is recorded or sent.
func EventsAB(ctx context.Context, out io.Writer, scale, rounds int, match func(string) bool) ([]ABResult, error) {
	defer core.PauseTaskEvents(false)
	r := &runner{ctx: ctx, scale: scale}
	var res []ABResult
	for _, s := range steps {
		if !slices.Contains(abSteps, s.name) || (match != nil && !match(s.name)) {
			continue
		}
		if _, err := s.run(r); err != nil { // warm up
			return res, fmt.Errorf("%s: %w", s.name, err)
		}
		var off, on, ratio []float64
		for i := range rounds {
			var v [2]float64
			order := []bool{true, false} // paused first
			if i%2 == 1 {
				order = []bool{false, true}
			}
			for _, paused := range order {
				core.PauseTaskEvents(paused)
				x, err := s.run(r)
				if err != nil {
					return res, fmt.Errorf("%s: %w", s.name, err)
				}
				if paused {
					v[0] = x
				} else {
					v[1] = x
				}
			}
			off, on, ratio = append(off, v[0]), append(on, v[1]), append(ratio, v[1]/v[0])
		}
		core.PauseTaskEvents(false)
		q1, med, q3 := quartiles(ratio)
		a := ABResult{Name: s.name, Off: median(off), On: median(on), Ratio: med, RatioQ1: q1, RatioQ3: q3}
		res = append(res, a)
		fmt.Fprintf(out, "%-36s off %12.2f  on %12.2f  on/off %.3f (IQR %.3f–%.3f, %d rounds)\n", a.Name, a.Off, a.On, a.Ratio, a.RatioQ1, a.RatioQ3, rounds)
	}
	return res, nil
}

func median(xs []float64) float64 {
	_, m, _ := quartiles(xs)
	return m
}

// quartiles are the lower quartile, median and upper quartile of xs
// (linear interpolation between order statistics).
func quartiles(xs []float64) (q1, q2, q3 float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	at := func(p float64) float64 {
		pos := p * float64(len(s)-1)
		i := int(pos)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (pos-float64(i))*(s[i+1]-s[i])
	}
	return at(0.25), at(0.5), at(0.75)
}
