package metricnames

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
)

// selector is a PromQL vector selector with a label matcher: the metric
// name right before "{".
var selector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\{`)

// bare finds what looks like a metric name of goray's (Ray's, KubeRay's or
// controller-runtime's prefixes) anywhere in a query.
var bare = regexp.MustCompile(`\b(ray|kuberay|controller_runtime|workqueue|rest_client)_[a-zA-Z0-9_:]*`)

// DashboardMetrics returns the metric names a Grafana dashboard's queries
// (every "expr" in its JSON, panels and template variables alike) read.
// Queries must name metrics with a label matcher (name{...}, which every
// query of goray's dashboards has for the cluster variable): a name used
// bare is an error, so that no query escapes the check.
func DashboardMetrics(dashboard []byte) ([]string, error) {
	var v any
	if err := json.Unmarshal(dashboard, &v); err != nil {
		return nil, err
	}
	var exprs []string
	collectExprs(v, &exprs)
	if len(exprs) == 0 {
		return nil, fmt.Errorf("no queries")
	}
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, m := range selector.FindAllStringSubmatch(e, -1) {
			seen[m[1]] = true
		}
		rest := selector.ReplaceAllString(e, "{")
		if b := bare.FindString(rest); b != "" {
			return nil, fmt.Errorf("query %q reads %s without a label matcher", e, b)
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// collectExprs gathers the "expr" strings of panels' targets and the
// "query" strings of template variables.
func collectExprs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && (k == "expr" || (k == "query" && selector.MatchString(s))) {
				*out = append(*out, s)
				continue
			}
			if q, ok := c.(map[string]any); ok && k == "query" {
				if s, ok := q["query"].(string); ok {
					*out = append(*out, s)
				}
				continue
			}
			collectExprs(c, out)
		}
	case []any:
		for _, c := range x {
			collectExprs(c, out)
		}
	}
}
