package operator

import (
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWorkloadAPIServed(t *testing.T) {
	served := &metav1.APIResourceList{APIResources: []metav1.APIResource{{Name: "priorityclasses"}, {Name: "workloads"}, {Name: "podgroups"}, {Name: "podgroups/status"}}}
	if err := workloadAPIServed(served, nil); err != nil {
		t.Errorf("served: %v", err)
	}
	for name, tc := range map[string]struct {
		list *metav1.APIResourceList
		err  error
		want string
	}{
		"group version not served": {nil, errors.New("the server could not find the requested resource"), "could not find"},
		"no podgroups":             {&metav1.APIResourceList{APIResources: []metav1.APIResource{{Name: "workloads"}}}, nil, "podgroups"},
		"nothing":                  {&metav1.APIResourceList{}, nil, "workloads"},
	} {
		err := workloadAPIServed(tc.list, tc.err)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "GenericWorkload") {
			t.Errorf("%s: %v, want an error naming %q and the feature gate", name, err, tc.want)
		}
	}
}

func TestNewManagerRefusesUnsupportedBatchSchedulers(t *testing.T) {
	for _, name := range []string{"volcano", "scheduler-plugins", "nonsense"} {
		o := DefaultOptions()
		o.BatchScheduler = name
		if _, err := NewManager(nil, o); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want a refusal naming it", name, err)
		}
	}
}
