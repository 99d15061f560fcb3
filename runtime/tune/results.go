package tune

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
)

// ResultGrid is an experiment's trials (Ray's ResultGrid).
type ResultGrid struct {
	Trials       []*TrialResult
	Metric, Mode string
	Path         string
}

// Best is the trial with the best last value of the metric (Ray's
// get_best_result with scope "last"); ok is false when no trial reported it.
func (g *ResultGrid) Best() (*TrialResult, bool) {
	var best *TrialResult
	for _, tr := range g.Trials {
		v, ok := tr.Metrics[g.Metric]
		if !ok || math.IsNaN(v) {
			continue
		}
		if best == nil || g.better(v, best.Metrics[g.Metric]) {
			best = tr
		}
	}
	return best, best != nil
}

func (g *ResultGrid) better(a, b float64) bool {
	if g.Mode == "min" {
		return a < b
	}
	return a > b
}

// Errors are the trials that failed.
func (g *ResultGrid) Errors() []*TrialResult {
	var out []*TrialResult
	for _, tr := range g.Trials {
		if tr.Status == Errored {
			out = append(out, tr)
		}
	}
	return out
}

// Table writes the trials as Ray Tune's reporter does: a status line, then
// up to max trials (best first) with their parameters, iterations and the
// metric.
func (g *ResultGrid) Table(w io.Writer, max int) {
	count := map[string]int{}
	for _, tr := range g.Trials {
		count[tr.Status]++
	}
	var parts []string
	for _, s := range []string{Running, Paused, Pending, Terminated, Errored} {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	fmt.Fprintf(w, "Trial status: %s\n", strings.Join(parts, " | "))
	trials := append([]*TrialResult(nil), g.Trials...)
	sort.SliceStable(trials, func(i, j int) bool {
		a, oka := trials[i].Metrics[g.Metric]
		b, okb := trials[j].Metrics[g.Metric]
		if oka != okb {
			return oka
		}
		return oka && g.better(a, b)
	})
	var keys []string
	if len(trials) > 0 {
		for k := range trials[0].Config {
			keys = append(keys, k)
		}
		sort.Strings(keys)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Trial name\tstatus\t%s\titer\t%s\n", strings.Join(keys, "\t"), g.Metric)
	for i, tr := range trials {
		if max > 0 && i == max {
			fmt.Fprintf(tw, "... %d more trials\n", len(trials)-max)
			break
		}
		vals := make([]string, len(keys))
		for j, k := range keys {
			vals[j] = fmt.Sprint(tr.Config[k])
			if f, ok := tr.Config[k].(float64); ok {
				vals[j] = fmt.Sprintf("%.4g", f)
			}
		}
		metric := ""
		if v, ok := tr.Metrics[g.Metric]; ok {
			metric = fmt.Sprintf("%.5g", v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", tr.ID, tr.Status, strings.Join(vals, "\t"), int(tr.Metrics["training_iteration"]), metric)
	}
	_ = tw.Flush()
}
