// Package metricnames is the list of metrics goray exports under Ray's and
// KubeRay's names (expected.txt, each line with where it comes from) and
// the checks the acceptance tests make with it: a scrape of a node or of
// the operator against the list (Check), and the metric names a Grafana
// dashboard's queries read (DashboardMetrics).
package metricnames

import (
	_ "embed"
	"fmt"
	"slices"
	"sort"
	"strings"
)

//go:embed expected.txt
var expected string

// Metric is one expected metric.
type Metric struct {
	Name, Type string
	// Where it is exported: head, node, serve, error, autoscaler or operator (see expected.txt).
	Where  string
	Labels []string
}

// Expected is the list, in file order.
func Expected() []Metric {
	var out []Metric
	for i, line := range strings.Split(expected, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 {
			panic(fmt.Sprintf("expected.txt:%d: want name type where labels, got %q", i+1, line))
		}
		labels := strings.Split(f[3], ",")
		sort.Strings(labels)
		out = append(out, Metric{Name: f[0], Type: f[1], Where: f[2], Labels: labels})
	}
	return out
}

// Where is the expected metrics exported at one of the places.
func Where(places ...string) []Metric {
	var out []Metric
	for _, m := range Expected() {
		if slices.Contains(places, m.Where) {
			out = append(out, m)
		}
	}
	return out
}

// Known reports whether name is an expected metric, or a histogram's
// _bucket, _sum or _count series of one.
func Known(name string) bool {
	for _, m := range Expected() {
		if m.Name == name {
			return true
		}
		if m.Type == "histogram" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				if name == m.Name+s {
					return true
				}
			}
		}
	}
	return false
}

// Check compares a scrape with want: every metric is there with its type,
// and each of its series carries exactly its labels (a histogram's _bucket
// series le as well).
func Check(got Families, want []Metric) []error {
	var errs []error
	for _, m := range want {
		f, ok := got[m.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: not exported", m.Name))
			continue
		}
		if f.Type != m.Type {
			errs = append(errs, fmt.Errorf("%s: type %s, want %s", m.Name, f.Type, m.Type))
		}
		if len(f.Series) == 0 {
			errs = append(errs, fmt.Errorf("%s: no series", m.Name))
		}
		for _, s := range f.Series {
			ls := s.LabelNames()
			if strings.HasSuffix(s.Name, "_bucket") {
				ls = slices.DeleteFunc(ls, func(l string) bool { return l == "le" })
			}
			if !slices.Equal(ls, m.Labels) {
				errs = append(errs, fmt.Errorf("%s: series %s has labels %v, want %v", m.Name, s.Name, ls, m.Labels))
				break
			}
		}
	}
	return errs
}
