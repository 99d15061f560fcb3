package metrics

import (
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather collects cs in a fresh registry and returns the families by name.
func gather(t *testing.T, cs ...prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(cs...)
	return families(t, reg)
}

func families(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// labelsOf is a series' labels as "k=v,..." in name order.
func labelsOf(m *dto.Metric) string {
	var kv []string
	for _, l := range m.GetLabel() {
		kv = append(kv, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(kv)
	return strings.Join(kv, ",")
}

// value finds the series of family name whose labels include all of want
// ("k=v" each) and returns its gauge, counter or histogram-count value.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no family %s (have %v)", name, keys(fams))
	}
	for _, m := range f.GetMetric() {
		ls := "," + labelsOf(m) + ","
		ok := true
		for _, w := range want {
			if !strings.Contains(ls, ","+w+",") {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	var all []string
	for _, m := range f.GetMetric() {
		all = append(all, labelsOf(m))
	}
	t.Fatalf("%s has no series with %v; series: %v", name, want, all)
	return 0
}

func keys(fams map[string]*dto.MetricFamily) []string {
	var out []string
	for k := range fams {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
