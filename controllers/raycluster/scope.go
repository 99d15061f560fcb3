package raycluster

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// scope is what one reconcile of one cluster knows and has done.
type scope struct {
	cluster     *rayv1.RayCluster
	now         time.Time
	pods        []corev1.Pod // pods of the cluster in the cache, minus those deleted
	headService *corev1.Service
	failure     *failure
	suspending  bool
	suspended   bool
	requeue     bool
	// requeueAfter is a later look without a change (certificate renewal); 0: none.
	requeueAfter time.Duration
}

// podsByCluster indexes the cached pods by their ray.io/cluster label: a
// label selector would test every pod of the namespace on each reconcile,
// which grows with the number of clusters (1,000 clusters: a fifth of the
// operator's CPU went there).
const podsByCluster = "goray.ray.io/cluster"

func podClusterName(o client.Object) []string {
	if name, ok := o.GetLabels()[rayv1.RayClusterLabelKey]; ok {
		return []string{name}
	}
	return nil
}

// loadPods lists the cluster's pods from the cache (label-scoped to ours).
func (s *scope) loadPods(ctx context.Context, c client.Client) error {
	list := &corev1.PodList{}
	if err := c.List(ctx, list, client.InNamespace(s.cluster.Namespace),
		client.MatchingFields{podsByCluster: s.cluster.Name}); err != nil {
		return err
	}
	s.pods = list.Items
	return nil
}

// dropPods removes deleted pods from what the status will count. It builds
// a new slice: callers hold pointers into the old one.
func (s *scope) dropPods(gone map[string]bool) {
	if len(gone) == 0 {
		return
	}
	kept := make([]corev1.Pod, 0, len(s.pods))
	for _, p := range s.pods {
		if !gone[p.Name] {
			kept = append(kept, p)
		}
	}
	s.pods = kept
}

// fail records the first failure of the reconcile for the ReplicaFailure condition.
func (s *scope) fail(reason, message string) {
	if s.failure == nil {
		s.failure = &failure{reason: reason, message: message}
	}
}

func (s *scope) observed() observed {
	return observed{
		cluster:     s.cluster,
		pods:        s.livePods(),
		headService: s.headService,
		failure:     s.failure,
		suspending:  s.suspending,
		suspended:   s.suspended,
		now:         s.now,
	}
}

// livePods are the pods not being deleted.
func (s *scope) livePods() []corev1.Pod {
	out := make([]corev1.Pod, 0, len(s.pods))
	for _, p := range s.pods {
		if p.DeletionTimestamp.IsZero() {
			out = append(out, p)
		}
	}
	return out
}
