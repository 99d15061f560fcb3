package raycluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/operator"
)

// startTLSOperator runs an operator with a fake clock in a namespace of its own.
func startTLSOperator(t *testing.T, ctx context.Context) (string, *clocktesting.FakeClock) {
	t.Helper()
	ns, err := env.Namespace(ctx, "tls")
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	stop, err := startOperator(ctx, []string{ns}, func(o *operator.Options) { o.Clock = clk })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return ns, clk
}

func tlsEnabledCluster(ns, name string) *rayv1.RayCluster {
	c := newCluster(ns, name, workerGroup("small", 1, 0, 5))
	c.Spec.TLSOptions = &rayv1.TLSOptions{Enabled: ptr.To(true)}
	c.Spec.EnableInTreeAutoscaling = ptr.To(true)
	return c
}

func getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	return s, k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)
}

func waitForSecret(t *testing.T, ctx context.Context, ns, name string) *corev1.Secret {
	t.Helper()
	var s *corev1.Secret
	eventually(t, "Secret "+name, func() (bool, error) {
		var err error
		s, err = getSecret(ctx, ns, name)
		return err == nil, client.IgnoreNotFound(err)
	})
	return s
}

func parseCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("no PEM certificate in %q", b)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// verifyTLSSecret checks that the certificate Secret holds a key pair
// signed by caPEM, valid at now for the head Service's name.
func verifyTLSSecret(t *testing.T, s *corev1.Secret, caPEM []byte, ns string, now time.Time) *x509.Certificate {
	t.Helper()
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret %s type %s, want kubernetes.io/tls", s.Name, s.Type)
	}
	if !bytes.Equal(s.Data["ca.crt"], caPEM) {
		t.Errorf("Secret %s ca.crt is not the CA Secret's certificate", s.Name)
	}
	if _, err := tls.X509KeyPair(s.Data["tls.crt"], s.Data["tls.key"]); err != nil {
		t.Errorf("Secret %s: %v", s.Name, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	cert := parseCert(t, s.Data["tls.crt"])
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots: roots, CurrentTime: now, DNSName: "tlsdemo-head-svc." + ns + ".svc.cluster.local",
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}); err != nil {
		t.Errorf("the certificate does not verify against the CA: %v", err)
	}
	return cert
}

func checkOwnedBy(t *testing.T, obj metav1.Object, c *rayv1.RayCluster) {
	t.Helper()
	owner := metav1.GetControllerOf(obj)
	if owner == nil || owner.UID != c.UID || owner.Kind != "RayCluster" {
		t.Errorf("%s owner %+v, want RayCluster %s", obj.GetName(), owner, c.Name)
	}
}

// checkPodTLS checks that the named containers mount the Secret and run with TLS.
func checkPodTLS(t *testing.T, p *corev1.Pod, secret string, containers ...string) {
	t.Helper()
	i := slices.IndexFunc(p.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == desired.TLSVolumeName })
	if i < 0 || p.Spec.Volumes[i].Secret == nil || p.Spec.Volumes[i].Secret.SecretName != secret {
		t.Errorf("pod %s: no volume of the Secret %s: %+v", p.Name, secret, p.Spec.Volumes)
	}
	for _, name := range containers {
		j := slices.IndexFunc(p.Spec.Containers, func(c corev1.Container) bool { return c.Name == name })
		if j < 0 {
			t.Errorf("pod %s has no container %s", p.Name, name)
			continue
		}
		ct := p.Spec.Containers[j]
		env := map[string]string{}
		for _, e := range ct.Env {
			env[e.Name] = e.Value
		}
		if env["RAY_USE_TLS"] != "1" || env["RAY_TLS_SERVER_CERT"] != "/etc/goray/tls/tls.crt" ||
			env["RAY_TLS_SERVER_KEY"] != "/etc/goray/tls/tls.key" || env["RAY_TLS_CA_CERT"] != "/etc/goray/tls/ca.crt" {
			t.Errorf("pod %s container %s TLS env %v", p.Name, name, env)
		}
		if !slices.ContainsFunc(ct.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == desired.TLSVolumeName && m.MountPath == "/etc/goray/tls" && m.ReadOnly
		}) {
			t.Errorf("pod %s container %s mounts %+v", p.Name, name, ct.VolumeMounts)
		}
	}
	ray := p.Spec.Containers[0]
	for _, probe := range []*corev1.Probe{ray.ReadinessProbe, ray.LivenessProbe} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("pod %s probe %+v, want HTTPS", p.Name, probe)
		}
	}
}

// TestTLSSecretsAndPods: tlsOptions.enabled makes a CA Secret and a
// certificate Secret it signs, once; every pod mounts the certificate.
func TestTLSSecretsAndPods(t *testing.T) {
	ctx := context.Background()
	ns, clk := startTLSOperator(t, ctx)
	c := tlsEnabledCluster(ns, "tlsdemo")
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, ns, "tlsdemo", 1)

	caSecret := waitForSecret(t, ctx, ns, "tlsdemo-tls-ca")
	certSecret := waitForSecret(t, ctx, ns, "tlsdemo-tls")
	checkOwnedBy(t, caSecret, c)
	checkOwnedBy(t, certSecret, c)
	if ca := parseCert(t, caSecret.Data["ca.crt"]); !ca.IsCA {
		t.Error("ca.crt of the CA Secret is not a CA")
	}
	if len(caSecret.Data["ca.key"]) == 0 {
		t.Error("the CA Secret has no ca.key")
	}
	cert := verifyTLSSecret(t, certSecret, caSecret.Data["ca.crt"], ns, clk.Now())
	if d := cert.NotAfter.Sub(clk.Now()); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("the certificate is valid for %v, want a year", d)
	}

	heads, err := pods(ctx, ns, "tlsdemo", client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"})
	if err != nil || len(heads) != 1 {
		t.Fatalf("heads: %d %v", len(heads), err)
	}
	checkPodTLS(t, &heads[0], "tlsdemo-tls", heads[0].Spec.Containers[0].Name, desired.AutoscalerContainerName)
	checkPodTLS(t, &ws[0], "tlsdemo-tls", ws[0].Spec.Containers[0].Name)

	// More reconciles (a scale-up: a new generation) change neither Secret.
	if err := patchCluster(ctx, ns, "tlsdemo", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](2) }); err != nil {
		t.Fatal(err)
	}
	ws = waitForCounts(t, ctx, ns, "tlsdemo", 2)
	eventually(t, "the scale-up observed", func() (bool, error) {
		c, err := getCluster(ctx, ns, "tlsdemo")
		return err == nil && c.Status.ObservedGeneration == c.Generation, err
	})
	for _, w := range ws {
		checkPodTLS(t, &w, "tlsdemo-tls", w.Spec.Containers[0].Name)
	}
	consistently(t, "the TLS Secrets unchanged", time.Second, func() (bool, error) {
		ca, err := getSecret(ctx, ns, "tlsdemo-tls-ca")
		if err != nil {
			return false, err
		}
		cs, err := getSecret(ctx, ns, "tlsdemo-tls")
		if err != nil {
			return false, err
		}
		return ca.ResourceVersion == caSecret.ResourceVersion && cs.ResourceVersion == certSecret.ResourceVersion, nil
	})

	// Eleven months later the certificate is still kept; at 30 days before
	// its end it is renewed, by the same CA.
	clk.Step(330 * 24 * time.Hour)
	touch(t, ctx, ns, "tlsdemo", "1")
	consistently(t, "the certificate kept after 330 days", time.Second, func() (bool, error) {
		cs, err := getSecret(ctx, ns, "tlsdemo-tls")
		return err == nil && cs.ResourceVersion == certSecret.ResourceVersion, err
	})
	clk.Step(10 * 24 * time.Hour)
	touch(t, ctx, ns, "tlsdemo", "2")
	var renewed *corev1.Secret
	eventually(t, "the certificate renewed", func() (bool, error) {
		var err error
		renewed, err = getSecret(ctx, ns, "tlsdemo-tls")
		return err == nil && !bytes.Equal(renewed.Data["tls.crt"], certSecret.Data["tls.crt"]), err
	})
	caNow, err := getSecret(ctx, ns, "tlsdemo-tls-ca")
	if err != nil {
		t.Fatal(err)
	}
	if caNow.ResourceVersion != caSecret.ResourceVersion {
		t.Error("renewing the certificate changed the CA")
	}
	newCert := verifyTLSSecret(t, renewed, caSecret.Data["ca.crt"], ns, clk.Now())
	if !newCert.NotAfter.After(cert.NotAfter.Add(300 * 24 * time.Hour)) {
		t.Errorf("the renewed certificate ends %v, the old one %v", newCert.NotAfter, cert.NotAfter)
	}
	// Renewed once: the next reconciles keep it.
	touch(t, ctx, ns, "tlsdemo", "3")
	consistently(t, "the renewed certificate kept", time.Second, func() (bool, error) {
		cs, err := getSecret(ctx, ns, "tlsdemo-tls")
		return err == nil && cs.ResourceVersion == renewed.ResourceVersion, err
	})

	evs := &eventsv1.EventList{}
	if err := k8s.List(ctx, evs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.Reason == "UnsupportedField" {
			t.Errorf("event %s: %s", e.Reason, e.Note)
		}
	}
}

// touch makes the operator reconcile the cluster (an annotation change).
func touch(t *testing.T, ctx context.Context, ns, name, v string) {
	t.Helper()
	if err := patchCluster(ctx, ns, name, func(c *rayv1.RayCluster) {
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations["test.goray.dev/touch"] = v
	}); err != nil {
		t.Fatal(err)
	}
}

// TestTLSUserSecret: with tlsOptions.secretName the user's Secret is
// mounted as it is and the operator makes none.
func TestTLSUserSecret(t *testing.T) {
	ctx := context.Background()
	ns, _ := startTLSOperator(t, ctx)
	c := tlsEnabledCluster(ns, "mine")
	c.Spec.TLSOptions.SecretName = ptr.To("my-certs")
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, ns, "mine", 1)
	heads, err := pods(ctx, ns, "mine", client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"})
	if err != nil || len(heads) != 1 {
		t.Fatalf("heads: %d %v", len(heads), err)
	}
	checkPodTLS(t, &heads[0], "my-certs", heads[0].Spec.Containers[0].Name, desired.AutoscalerContainerName)
	checkPodTLS(t, &ws[0], "my-certs", ws[0].Spec.Containers[0].Name)
	list := &corev1.SecretList{}
	if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range list.Items {
		if s.Name == "mine-tls" || s.Name == "mine-tls-ca" || s.Name == "my-certs" {
			t.Errorf("the operator made Secret %s", s.Name)
		}
	}
	// The Secret does not exist: a Warning says so.
	eventually(t, "a TLSSecretInvalid event", func() (bool, error) {
		evs := &eventsv1.EventList{}
		if err := k8s.List(ctx, evs, client.InNamespace(ns)); err != nil {
			return false, err
		}
		return slices.ContainsFunc(evs.Items, func(e eventsv1.Event) bool {
			return e.Reason == "TLSSecretInvalid" && strings.Contains(e.Note, "my-certs") && strings.Contains(e.Note, "does not exist")
		}), nil
	})
}

// TestTLSSecretOfAnother: a Secret named <cluster>-tls that is not the
// cluster's (a deleted namesake's, not yet garbage-collected) is not used:
// no pod starts with it, and the status says why.
func TestTLSSecretOfAnother(t *testing.T) {
	ctx := context.Background()
	ns, _ := startTLSOperator(t, ctx)
	stale := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "again-tls", Labels: map[string]string{
			rayv1.RayClusterLabelKey: "again", rayv1.KubernetesCreatedByLabelKey: rayv1.ComponentName}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"tls.crt": []byte("old")},
	}
	if err := k8s.Create(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Create(ctx, tlsEnabledCluster(ns, "again")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ReplicaFailure TLSSecretConflict", func() (bool, error) {
		c, err := getCluster(ctx, ns, "again")
		if err != nil {
			return false, err
		}
		for _, cond := range c.Status.Conditions {
			if cond.Type == string(rayv1.RayClusterReplicaFailure) && cond.Reason == "TLSSecretConflict" {
				return true, nil
			}
		}
		return false, nil
	})
	if ps, err := pods(ctx, ns, "again"); err != nil || len(ps) != 0 {
		t.Errorf("%d pods (%v) while the TLS Secret is another's", len(ps), err)
	}
	// Once it is gone the cluster gets its own.
	if err := k8s.Delete(ctx, stale); err != nil {
		t.Fatal(err)
	}
	touch(t, ctx, ns, "again", "1")
	waitForCounts(t, ctx, ns, "again", 1)
	s := waitForSecret(t, ctx, ns, "again-tls")
	if string(s.Data["tls.crt"]) == "old" {
		t.Error("the stale Secret's content was kept")
	}
}
