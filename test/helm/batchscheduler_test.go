package helm

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestOperatorChartBatchScheduler: KubeRay's batchScheduler values become
// the operator's flags — name as --batch-scheduler, enabled alone as the
// older --enable-batch-scheduler — and neither by default.
func TestOperatorChartBatchScheduler(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want string // the one batch-scheduler flag, "" for none
	}{
		{nil, ""},
		{[]string{"batchScheduler.name=kube-scheduler"}, "--batch-scheduler=kube-scheduler"},
		{[]string{"batchScheduler.name=yunikorn", "batchScheduler.enabled=true"}, "--batch-scheduler=yunikorn"},
		{[]string{"batchScheduler.enabled=true"}, "--enable-batch-scheduler=true"},
	} {
		var extra []string
		for _, s := range tc.set {
			extra = append(extra, "--set", s)
		}
		var d appsv1.Deployment
		strict(t, docs(t, template(t, "charts/goray-operator", "", extra...))["Deployment"][0], &d)
		args := d.Spec.Template.Spec.Containers[0].Args
		got := slices.DeleteFunc(slices.Clone(args), func(a string) bool { return !strings.Contains(a, "batch-scheduler") })
		if (tc.want == "" && len(got) != 0) || (tc.want != "" && !slices.Equal(got, []string{tc.want})) {
			t.Errorf("--set %v: batch scheduler args %q, want %q", tc.set, got, tc.want)
		}
	}
}
