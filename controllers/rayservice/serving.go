package rayservice

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// labelServingPods sets ray.io/serve on the pods of the active and pending
// clusters from their proxies' health, so the serve Service only sends
// traffic to proxies that answer (the head is left out when asked). A
// proxy is asked on the port it listens on (desired.PodServePort); a pod
// whose proxy is off (--serve-port=0) does not serve.
func (r *Reconciler) labelServingPods(ctx context.Context, s *scope) (bool, error) {
	s.endpoints = 0
	for _, c := range []*rayv1.RayCluster{s.active, s.pending} {
		if c == nil {
			continue
		}
		pods := &corev1.PodList{}
		if err := r.Client.List(ctx, pods, client.InNamespace(c.Namespace), client.MatchingLabels{rayv1.RayClusterLabelKey: c.Name}); err != nil {
			return false, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if !p.DeletionTimestamp.IsZero() || p.Labels[rayv1.RayNodeTypeLabelKey] == string(rayv1.RedisCleanupNode) {
				continue
			}
			serving := p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" &&
				(!s.rs.Spec.ExcludeHeadPodFromServeSvc || p.Labels[rayv1.RayNodeTypeLabelKey] != string(rayv1.HeadNode)) &&
				r.proxyHealthy(ctx, c, p)
			want := "false"
			if serving {
				want = "true"
				if c == s.active {
					s.endpoints++
				}
			}
			if p.Labels[rayv1.RayClusterServingServiceKey] == want {
				continue
			}
			before := p.DeepCopy()
			p.Labels[rayv1.RayClusterServingServiceKey] = want
			if err := r.Client.Patch(ctx, p, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
				return false, err
			}
		}
	}
	return false, nil
}

func (r *Reconciler) proxyHealthy(ctx context.Context, c *rayv1.RayCluster, p *corev1.Pod) bool {
	port := desired.PodServePort(c, p)
	return port > 0 && r.ProxyHealth(ctx, p, port) == nil
}

// reconcileServices points <rs>-head-svc and <rs>-serve-svc at the active
// cluster. They are created once a cluster serves, and their selector moves
// only when traffic does.
func (r *Reconciler) reconcileServices(ctx context.Context, s *scope) (bool, error) {
	if s.active == nil {
		return false, nil
	}
	head := desired.HeadService(s.active)
	head.Name = s.rs.Name + "-head-svc"
	serve := desired.ServeService(s.active, desired.ServeServiceName(s.rs.Name), s.rs.Spec.ServeService)
	for _, svc := range []*corev1.Service{head, serve} {
		svc.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(s.rs, rayv1.GroupVersion.WithKind("RayService"))}
		svc.Labels[rayv1.RayOriginatedFromCRNameKey] = s.rs.Name
		svc.Labels[rayv1.RayOriginatedFromCRDKey] = "RayService"
		existing := &corev1.Service{}
		err := r.Client.Get(ctx, client.ObjectKeyFromObject(svc), existing)
		switch {
		case apierrors.IsNotFound(err):
			if err := r.Client.Create(ctx, svc); err != nil && !apierrors.IsAlreadyExists(err) {
				return false, err
			}
		case err != nil:
			return false, err
		case !equality.Semantic.DeepEqual(existing.Spec.Selector, svc.Spec.Selector):
			// Only the selector moves; the ClusterIP and ports stay.
			before := existing.DeepCopy()
			existing.Spec.Selector = svc.Spec.Selector
			existing.Labels = svc.Labels
			if err := r.Client.Patch(ctx, existing, client.MergeFrom(before)); err != nil {
				return false, err
			}
		}
	}
	return false, nil
}
