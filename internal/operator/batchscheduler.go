package operator

import (
	"fmt"
	"slices"

	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/goray-dev/goray/internal/desired"
)

// checkBatchScheduler refuses a batch scheduler the operator cannot run
// with: an unknown or unsupported name, or kube-scheduler on an API server
// that does not serve the Workload API. The operator watches Workloads and
// PodGroups then, and a watch on a resource the server lacks would keep the
// manager from starting with a far less clear message.
func checkBatchScheduler(cfg *rest.Config, name string) error {
	if _, err := desired.ResolveBatchScheduler(name, false); err != nil {
		return err
	}
	if name != desired.BatchSchedulerKube {
		return nil
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	list, err := dc.ServerResourcesForGroupVersion(schedulingv1beta1.SchemeGroupVersion.String())
	return workloadAPIServed(list, err)
}

// workloadAPIServed says what is missing for --batch-scheduler=kube-scheduler
// given the server's scheduling.k8s.io/v1beta1 resources (and the error of
// asking for them).
func workloadAPIServed(list *metav1.APIResourceList, err error) error {
	const how = "the API server and the kube-scheduler need --feature-gates=GenericWorkload=true, the API server --runtime-config=scheduling.k8s.io/v1beta1=true (Kubernetes 1.37)"
	if err != nil {
		return fmt.Errorf("--batch-scheduler=%s needs scheduling.k8s.io/v1beta1 (Workload, PodGroup): %w; %s", desired.BatchSchedulerKube, err, how)
	}
	for _, r := range []string{"workloads", "podgroups"} {
		if list == nil || !slices.ContainsFunc(list.APIResources, func(a metav1.APIResource) bool { return a.Name == r }) {
			return fmt.Errorf("--batch-scheduler=%s: the API server does not serve scheduling.k8s.io/v1beta1 %s; %s", desired.BatchSchedulerKube, r, how)
		}
	}
	return nil
}
