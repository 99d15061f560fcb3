package raycluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// reconcileAutoscalerRBAC creates the ServiceAccount, Role and RoleBinding
// the autoscaler sidecar runs with.
func (r *Reconciler) reconcileAutoscalerRBAC(ctx context.Context, s *scope) error {
	c := s.cluster
	if !desired.AutoscalerEnabled(c) {
		return nil
	}
	objs := []client.Object{desired.AutoscalerRole(c), desired.AutoscalerRoleBinding(c)}
	if desired.NeedsAutoscalerServiceAccount(c) {
		objs = append([]client.Object{desired.AutoscalerServiceAccount(c)}, objs...)
	}
	for _, obj := range objs {
		if err := r.createIfMissing(ctx, s, obj); err != nil {
			return err
		}
	}
	return nil
}

// reconcileAuthSecret generates the token Secret in token mode (the
// default). A Secret of the user's that does not exist is a Warning event,
// once per generation: the pods wait for it (CreateContainerConfigError)
// and start as soon as it is created.
func (r *Reconciler) reconcileAuthSecret(ctx context.Context, s *scope) error {
	c := s.cluster
	if !desired.NeedsAuthSecret(c) {
		r.checkUserAuthSecret(ctx, s)
		return nil
	}
	existing := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: desired.AuthSecretName(c)}, existing)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	// The token is random, so it is made only when the Secret is missing.
	token, err := r.TokenSource()
	if err != nil {
		return fmt.Errorf("generating the auth token: %w", err)
	}
	return r.createIfMissing(ctx, s, desired.AuthSecret(c, token))
}

// checkUserAuthSecret warns when the Secret the pods take their token from
// (authOptions.secretName, or the head container's own secretKeyRef) is
// missing or lacks its key. It reads the API server, not the cache (a
// user's Secret is not in the label-scoped cache), so only when the
// generation changes.
func (r *Reconciler) checkUserAuthSecret(ctx context.Context, s *scope) {
	c := s.cluster
	if !desired.AuthTokenEnabled(c) || r.APIReader == nil || c.Status.ObservedGeneration == c.Generation {
		return
	}
	v := desired.AuthTokenVar(c)
	if v.ValueFrom == nil || v.ValueFrom.SecretKeyRef == nil || ptr.Deref(v.ValueFrom.SecretKeyRef.Optional, false) {
		return
	}
	ref := v.ValueFrom.SecretKeyRef
	secret := &corev1.Secret{}
	msg := ""
	switch err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: ref.Name}, secret); {
	case apierrors.IsNotFound(err):
		msg = fmt.Sprintf("the auth Secret %s does not exist: the pods cannot start until it does (key %s)", ref.Name, ref.Key)
	case err != nil:
		return
	case len(secret.Data[ref.Key]) == 0 && secret.StringData[ref.Key] == "":
		msg = fmt.Sprintf("the auth Secret %s has no key %s: the pods cannot start until it does", ref.Name, ref.Key)
	default:
		return
	}
	r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, "AuthSecretNotFound", "Validate", msg)
}

// reconcileServices creates the head Service, the serve Service when the
// cluster asks for one, and the headless Service of multi-host groups.
func (r *Reconciler) reconcileServices(ctx context.Context, s *scope) error {
	c := s.cluster
	head := desired.HeadService(c)
	existing := &corev1.Service{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(head), existing)
	switch {
	case err == nil:
		s.headService = existing
	case apierrors.IsNotFound(err):
		if err := r.createIfMissing(ctx, s, head); err != nil {
			return err
		}
		s.headService = head
	default:
		return err
	}
	if c.Annotations[rayv1.EnableServeServiceAnnotationKey] == "true" {
		if err := r.createIfMissing(ctx, s, desired.ServeService(c, desired.ServeServiceName(c.Name), nil)); err != nil {
			return err
		}
	}
	if desired.NeedsHeadlessService(c) {
		if err := r.createIfMissing(ctx, s, desired.HeadlessService(c)); err != nil {
			return err
		}
	}
	return nil
}

// createIfMissing creates obj unless the cache already has it; an object
// that exists is left as it is (the builders only say what to create).
func (r *Reconciler) createIfMissing(ctx context.Context, s *scope, obj client.Object) error {
	existing, _ := obj.DeepCopyObject().(client.Object)
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), existing)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	err = r.Client.Create(ctx, obj)
	if err == nil || apierrors.IsAlreadyExists(err) {
		return nil
	}
	kind := fmt.Sprintf("%T", obj)
	switch obj.(type) {
	case *corev1.Service:
		kind = "Service"
	case *corev1.ServiceAccount:
		kind = "ServiceAccount"
	case *rbacv1.Role:
		kind = "Role"
	case *rbacv1.RoleBinding:
		kind = "RoleBinding"
	case *corev1.Secret:
		kind = "Secret"
	}
	s.fail("FailedCreate"+kind, fmt.Sprintf("creating %s %s: %v", kind, obj.GetName(), err))
	r.Recorder.Eventf(s.cluster, nil, corev1.EventTypeWarning, "FailedCreate"+kind, "Create", "creating %s %s: %v", kind, obj.GetName(), err)
	return err
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
