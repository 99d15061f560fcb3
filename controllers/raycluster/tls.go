package raycluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/runtime/auth"
)

// tlsRecheck is the longest a TLS cluster goes without its certificate
// being looked at again (renewal itself is scheduled for its own time).
const tlsRecheck = 24 * time.Hour

// reconcileTLS makes the cluster's CA Secret and the certificate Secret it
// signs, once, and renews them before they end (or when they no longer fit
// the cluster: another CA, other Service names, a broken key). The pods
// are created only once both are in place: a pod started with a
// certificate that is then replaced would keep presenting the old one.
// With tlsOptions.secretName the user's Secret is mounted and nothing is
// made here.
func (r *Reconciler) reconcileTLS(ctx context.Context, s *scope) error {
	c := s.cluster
	if !desired.NeedsTLSSecrets(c) {
		r.checkUserTLSSecret(ctx, s)
		return nil
	}
	ca, caRenewAt, err := r.reconcileTLSCA(ctx, s)
	if err != nil {
		return err
	}
	certRenewAt, err := r.reconcileTLSCert(ctx, s, ca)
	if err != nil {
		return err
	}
	next := min(caRenewAt.Sub(s.now), certRenewAt.Sub(s.now), tlsRecheck)
	s.requeueAfter = max(next, time.Second)
	return nil
}

// checkUserTLSSecret warns when the user's TLS Secret (tlsOptions.
// secretName) is missing or does not hold a certificate, its key and the CA
// that signed it: the pods wait for it (the volume cannot be mounted, or
// the runtime exits saying what is wrong). It reads the API server, not the
// cache (a user's Secret is not in the label-scoped cache), so only when
// the generation changes.
func (r *Reconciler) checkUserTLSSecret(ctx context.Context, s *scope) {
	c := s.cluster
	name := desired.UserTLSSecretName(c)
	if name == "" || r.APIReader == nil || c.Status.ObservedGeneration == c.Generation {
		return
	}
	secret := &corev1.Secret{}
	msg := ""
	switch err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, secret); {
	case apierrors.IsNotFound(err):
		msg = fmt.Sprintf("the TLS Secret %s (spec.tlsOptions.secretName) does not exist: the pods cannot start until it does (keys tls.crt, tls.key, ca.crt)", name)
	case err != nil:
		return
	default:
		if why := desired.CheckUserTLSSecret(secret.Data, s.now); why != "" {
			msg = fmt.Sprintf("the TLS Secret %s (spec.tlsOptions.secretName) %s", name, why)
		}
	}
	if msg != "" {
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, "TLSSecretInvalid", "Validate", msg)
	}
}

// reconcileTLSCA returns the cluster's CA, made or renewed as needed, and
// when it is due for renewal.
func (r *Reconciler) reconcileTLSCA(ctx context.Context, s *scope) (*auth.CA, time.Time, error) {
	c := s.cluster
	existing, err := r.ownTLSSecret(ctx, s, desired.TLSCASecretName(c))
	if err != nil {
		return nil, time.Time{}, err
	}
	if existing != nil {
		check := desired.CheckTLSCA(existing.Data[desired.TLSCAKey], existing.Data[desired.TLSCAPrivKey], s.now)
		if !check.Renew {
			ca, err := auth.ParseCA(existing.Data[desired.TLSCAKey], existing.Data[desired.TLSCAPrivKey])
			return ca, check.RenewAt, err
		}
		ca, secret, err := newTLSCA(c, s.now)
		if err != nil {
			return nil, time.Time{}, err
		}
		updated := existing.DeepCopy()
		updated.Data = secret.Data
		if err := r.Client.Update(ctx, updated); err != nil {
			return nil, time.Time{}, fmt.Errorf("renewing the CA Secret %s: %w", existing.Name, err)
		}
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "TLSCARenewed", "Reconcile",
			"made a new CA in Secret %s (%s); every pod trusts it once it has read the renewed certificate", existing.Name, check.Reason)
		return ca, s.now.Add(desired.TLSCAValidity - desired.TLSRenewBefore), nil
	}
	ca, secret, err := newTLSCA(c, s.now)
	if err != nil {
		return nil, time.Time{}, err
	}
	if err := r.createTLSSecret(ctx, s, secret); err != nil {
		return nil, time.Time{}, err
	}
	return ca, s.now.Add(desired.TLSCAValidity - desired.TLSRenewBefore), nil
}

// reconcileTLSCert makes, keeps or renews the certificate Secret and
// returns when it is due for renewal.
func (r *Reconciler) reconcileTLSCert(ctx context.Context, s *scope, ca *auth.CA) (time.Time, error) {
	c := s.cluster
	hosts := desired.TLSHosts(c, r.ClusterDomain)
	existing, err := r.ownTLSSecret(ctx, s, desired.TLSSecretName(c))
	if err != nil {
		return time.Time{}, err
	}
	reason := ""
	if existing != nil {
		d := existing.Data
		check := desired.CheckTLSCert(d[desired.TLSCertKey], d[desired.TLSKeyKey], d[desired.TLSCAKey], ca.CertPEM(), hosts, s.now)
		if !check.Renew {
			return check.RenewAt, nil
		}
		reason = check.Reason
	}
	certPEM, keyPEM, err := ca.IssueAt(c.Name, hosts, s.now, desired.TLSCertValidity)
	if err != nil {
		return time.Time{}, fmt.Errorf("issuing the cluster's certificate: %w", err)
	}
	secret := desired.TLSSecret(c, certPEM, keyPEM, ca.CertPEM())
	renewAt := s.now.Add(desired.TLSCertValidity - desired.TLSRenewBefore)
	if existing == nil {
		return renewAt, r.createTLSSecret(ctx, s, secret)
	}
	updated := existing.DeepCopy()
	updated.Data = secret.Data
	if err := r.Client.Update(ctx, updated); err != nil {
		return time.Time{}, fmt.Errorf("renewing the certificate Secret %s: %w", existing.Name, err)
	}
	r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "TLSCertificateRenewed", "Reconcile",
		"issued a new certificate into Secret %s: %s", existing.Name, reason)
	return renewAt, nil
}

// errTLSSecretPending stops a reconcile until a TLS Secret that could not
// be created or used is in place; the pods wait for it.
type errTLSSecretPending struct{ msg string }

func (e errTLSSecretPending) Error() string { return e.msg }

// ownTLSSecret reads a TLS Secret of the cluster from the cache: nil when
// there is none. One that another object owns (a deleted cluster of the
// same name whose Secrets the garbage collector has not removed yet) is an
// error: the pods must not start with it.
func (r *Reconciler) ownTLSSecret(ctx context.Context, s *scope, name string) (*corev1.Secret, error) {
	c := s.cluster
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if owner := metav1.GetControllerOf(secret); owner == nil || owner.UID != c.UID {
		msg := fmt.Sprintf("the Secret %s is not this RayCluster's (a deleted cluster's, not yet garbage-collected, or someone else's): the pods wait until it is gone; to bring your own certificate, name its Secret in spec.tlsOptions.secretName", name)
		s.fail("TLSSecretConflict", msg)
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, "TLSSecretConflict", "Reconcile", msg)
		return nil, errTLSSecretPending{msg}
	}
	return secret, nil
}

// createTLSSecret creates a TLS Secret. One that exists already (made by
// an earlier reconcile, not in the cache yet, or not the operator's) stops
// this reconcile: what it holds is read next time, never overwritten.
func (r *Reconciler) createTLSSecret(ctx context.Context, s *scope, secret *corev1.Secret) error {
	err := r.Client.Create(ctx, secret)
	switch {
	case err == nil:
		return nil
	case apierrors.IsAlreadyExists(err):
		return errTLSSecretPending{fmt.Sprintf("the Secret %s exists but is not readable from the operator's cache yet", secret.Name)}
	}
	s.fail("FailedCreateSecret", fmt.Sprintf("creating Secret %s: %v", secret.Name, err))
	r.Recorder.Eventf(s.cluster, nil, corev1.EventTypeWarning, "FailedCreateSecret", "Create", "creating Secret %s: %v", secret.Name, err)
	return err
}

// newTLSCA makes a CA for the cluster and its Secret.
func newTLSCA(c *rayv1.RayCluster, now time.Time) (*auth.CA, *corev1.Secret, error) {
	ca, err := auth.NewCAAt(fmt.Sprintf("goray CA of RayCluster %s/%s", c.Namespace, c.Name), now, desired.TLSCAValidity)
	if err != nil {
		return nil, nil, fmt.Errorf("making the cluster's CA: %w", err)
	}
	key, err := ca.KeyPEM()
	if err != nil {
		return nil, nil, err
	}
	return ca, desired.TLSCASecret(c, ca.CertPEM(), key), nil
}
