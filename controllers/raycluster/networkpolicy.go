package raycluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// NetworkPolicyConflict is the reason of the failure and event when a
// NetworkPolicy by one of the cluster's policy names is not the cluster's.
const NetworkPolicyConflict = "NetworkPolicyConflict"

// serviceAccountNamespaceFile holds the namespace of the pod's service
// account: the operator's own namespace when it runs in the cluster.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// operatorNamespace is where the operator runs: $POD_NAMESPACE when set,
// else its service account's namespace, else "" (outside a cluster).
func operatorNamespace(getenv func(string) string, readFile func(string) ([]byte, error)) string {
	if ns := strings.TrimSpace(getenv("POD_NAMESPACE")); ns != "" {
		return ns
	}
	if data, err := readFile(serviceAccountNamespaceFile); err == nil {
		return strings.TrimSpace(string(data))
	}
	return ""
}

func defaultOperatorNamespace() string { return operatorNamespace(os.Getenv, os.ReadFile) }

// reconcileNetworkPolicies makes the cluster's NetworkPolicies what
// spec.networkPolicy asks for: each is created, or updated when its labels
// or spec differ, and those of the cluster's that are no longer asked for
// (the field removed, a worker group gone) are deleted. It runs before the
// pods are created, so a new cluster's pods never start unprotected.
func (r *Reconciler) reconcileNetworkPolicies(ctx context.Context, s *scope) error {
	c := s.cluster
	want := desired.NetworkPolicies(c, desired.NetworkPolicyOptions{OperatorNamespace: r.OperatorNamespace})
	keep := make(map[string]bool, len(want))
	for _, p := range want {
		keep[p.Name] = true
		if err := r.applyNetworkPolicy(ctx, s, p); err != nil {
			return err
		}
	}
	return r.deleteStaleNetworkPolicies(ctx, s, keep)
}

// applyNetworkPolicy creates p, or brings the cluster's existing policy of
// that name to it. A policy of that name that is not the cluster's is left
// alone and stops the reconcile: pods created without their policy would
// run open.
func (r *Reconciler) applyNetworkPolicy(ctx context.Context, s *scope, p *networkingv1.NetworkPolicy) error {
	c := s.cluster
	existing := &networkingv1.NetworkPolicy{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(p), existing)
	switch {
	case apierrors.IsNotFound(err):
		err = r.Client.Create(ctx, p)
		if err == nil {
			return nil
		}
		if apierrors.IsAlreadyExists(err) {
			// Made by an earlier reconcile and not in the cache yet (compared
			// next time), or someone else's: the cache holds only the
			// operator's objects, so ask the API server whose it is.
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(p), existing); err != nil {
				return client.IgnoreNotFound(err)
			}
			return r.checkNetworkPolicyOwner(s, existing)
		}
		s.fail("FailedCreateNetworkPolicy", fmt.Sprintf("creating NetworkPolicy %s: %v", p.Name, err))
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, "FailedCreateNetworkPolicy", "Create", "creating NetworkPolicy %s: %v", p.Name, err)
		return err
	case err != nil:
		return err
	}
	if err := r.checkNetworkPolicyOwner(s, existing); err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(existing.Spec, p.Spec) && labelsContain(existing.Labels, p.Labels) {
		return nil
	}
	updated := existing.DeepCopy()
	updated.Spec = p.Spec
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	for k, v := range p.Labels {
		updated.Labels[k] = v
	}
	if err := r.Client.Update(ctx, updated); err != nil {
		if apierrors.IsConflict(err) {
			return err // the cache was behind; the next reconcile compares again
		}
		s.fail("FailedUpdateNetworkPolicy", fmt.Sprintf("updating NetworkPolicy %s: %v", p.Name, err))
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, "FailedUpdateNetworkPolicy", "Update", "updating NetworkPolicy %s: %v", p.Name, err)
		return err
	}
	return nil
}

// checkNetworkPolicyOwner fails the reconcile when the policy is not the
// cluster's.
func (r *Reconciler) checkNetworkPolicyOwner(s *scope, p *networkingv1.NetworkPolicy) error {
	if owner := metav1.GetControllerOf(p); owner != nil && owner.UID == s.cluster.UID {
		return nil
	}
	msg := fmt.Sprintf("the NetworkPolicy %s is not this RayCluster's (a deleted cluster's, not yet garbage-collected, or someone else's): no pods are created until it is gone", p.Name)
	s.fail(NetworkPolicyConflict, msg)
	r.Recorder.Eventf(s.cluster, nil, corev1.EventTypeWarning, NetworkPolicyConflict, "Reconcile", msg)
	return errors.New(msg)
}

// deleteStaleNetworkPolicies deletes the cluster's policies not in keep.
// Only policies the cluster controls are candidates: a user's policy
// carrying the cluster's label is not ours to delete.
func (r *Reconciler) deleteStaleNetworkPolicies(ctx context.Context, s *scope, keep map[string]bool) error {
	c := s.cluster
	list := &networkingv1.NetworkPolicyList{}
	if err := r.Client.List(ctx, list, client.InNamespace(c.Namespace), client.MatchingLabels{rayv1.RayClusterLabelKey: c.Name}); err != nil {
		return err
	}
	for i := range list.Items {
		p := &list.Items[i]
		if keep[p.Name] || !metav1.IsControlledBy(p, c) || !p.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.Client.Delete(ctx, p, client.Preconditions{UID: &p.UID}); client.IgnoreNotFound(err) != nil {
			r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, "FailedDeleteNetworkPolicy", "Delete", "deleting NetworkPolicy %s: %v", p.Name, err)
			return err
		}
	}
	return nil
}

func labelsContain(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
