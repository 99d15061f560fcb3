package desired

import (
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/runtime/auth"
)

func tlsCluster() *rayv1.RayCluster {
	c := testCluster()
	c.Spec.TLSOptions = &rayv1.TLSOptions{Enabled: ptr.To(true)}
	return c
}

func TestTLSNames(t *testing.T) {
	c := testCluster()
	if TLSEnabled(c) || NeedsTLSSecrets(c) {
		t.Error("TLS on without tlsOptions")
	}
	c.Spec.TLSOptions = &rayv1.TLSOptions{Enabled: ptr.To(false), SecretName: ptr.To("mine")}
	if TLSEnabled(c) || NeedsTLSSecrets(c) || UserTLSSecretName(c) != "" {
		t.Error("TLS on with enabled: false")
	}
	c = tlsCluster()
	if !TLSEnabled(c) || !NeedsTLSSecrets(c) {
		t.Error("enabled: true does not make the Secrets")
	}
	if got := TLSSecretName(c); got != "demo-tls" {
		t.Errorf("TLSSecretName = %q, want demo-tls", got)
	}
	if got := TLSCASecretName(c); got != "demo-tls-ca" {
		t.Errorf("TLSCASecretName = %q, want demo-tls-ca", got)
	}
	c.Spec.TLSOptions.SecretName = ptr.To("mine")
	if NeedsTLSSecrets(c) || TLSSecretName(c) != "mine" || UserTLSSecretName(c) != "mine" {
		t.Errorf("with secretName: needs %v, name %q", NeedsTLSSecrets(c), TLSSecretName(c))
	}
}

func TestTLSHosts(t *testing.T) {
	c := tlsCluster()
	got := TLSHosts(c, "")
	for _, want := range []string{"demo-head-svc", "demo-head-svc.ns1", "demo-head-svc.ns1.svc", "demo-head-svc.ns1.svc.cluster.local", "localhost", "127.0.0.1"} {
		if !slices.Contains(got, want) {
			t.Errorf("TLSHosts = %v, lacks %s", got, want)
		}
	}
	c.Labels = map[string]string{rayv1.RayOriginatedFromCRDKey: "RayService", rayv1.RayOriginatedFromCRNameKey: "svc"}
	c.Spec.HeadGroupSpec.HeadService = &corev1.Service{}
	c.Spec.HeadGroupSpec.HeadService.Name = "custom"
	got = TLSHosts(c, "example.org")
	for _, want := range []string{"custom.ns1.svc.example.org", "svc-head-svc", "svc-head-svc.ns1.svc.example.org"} {
		if !slices.Contains(got, want) {
			t.Errorf("TLSHosts = %v, lacks %s", got, want)
		}
	}
}

func TestTLSSecrets(t *testing.T) {
	c := tlsCluster()
	ca := TLSCASecret(c, []byte("CA"), []byte("CAKEY"))
	if ca.Name != "demo-tls-ca" || ca.Namespace != "ns1" || string(ca.Data["ca.crt"]) != "CA" || string(ca.Data["ca.key"]) != "CAKEY" {
		t.Errorf("CA Secret %s/%s %v", ca.Namespace, ca.Name, ca.Data)
	}
	checkOwner(t, ca.OwnerReferences, c)
	checkObjectLabels(t, ca.Labels, "demo")
	s := TLSSecret(c, []byte("CERT"), []byte("KEY"), []byte("CA"))
	if s.Name != "demo-tls" || s.Type != corev1.SecretTypeTLS {
		t.Errorf("certificate Secret %s type %s", s.Name, s.Type)
	}
	for k, v := range map[string]string{"tls.crt": "CERT", "tls.key": "KEY", "ca.crt": "CA"} {
		if string(s.Data[k]) != v {
			t.Errorf("certificate Secret %s = %q, want %q", k, s.Data[k], v)
		}
	}
	checkOwner(t, s.OwnerReferences, c)
	checkObjectLabels(t, s.Labels, "demo")
}

// checkTLSContainer checks the mount and variables of a container with TLS.
func checkTLSContainer(t *testing.T, ct *corev1.Container) {
	t.Helper()
	for name, want := range map[string]string{
		"RAY_USE_TLS":         "1",
		"RAY_TLS_SERVER_CERT": "/etc/goray/tls/tls.crt",
		"RAY_TLS_SERVER_KEY":  "/etc/goray/tls/tls.key",
		"RAY_TLS_CA_CERT":     "/etc/goray/tls/ca.crt",
	} {
		if e := mustEnv(t, ct.Env, name); e.Value != want {
			t.Errorf("%s: %s = %q, want %q", ct.Name, name, e.Value, want)
		}
	}
	n := 0
	for _, m := range ct.VolumeMounts {
		if m.Name == TLSVolumeName {
			n++
			if m.MountPath != "/etc/goray/tls" || !m.ReadOnly {
				t.Errorf("%s: TLS mount %+v, want read-only at /etc/goray/tls", ct.Name, m)
			}
		}
	}
	if n != 1 {
		t.Errorf("%s: %d TLS mounts, want 1", ct.Name, n)
	}
}

func checkNoTLS(t *testing.T, ct *corev1.Container) {
	t.Helper()
	if _, ok := findEnv(t, ct.Env, "RAY_TLS_SERVER_CERT"); ok {
		t.Errorf("%s has RAY_TLS_SERVER_CERT", ct.Name)
	}
	if slices.ContainsFunc(ct.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == TLSVolumeName }) {
		t.Errorf("%s mounts the TLS Secret", ct.Name)
	}
}

func tlsVolume(t *testing.T, spec *corev1.PodSpec) *corev1.Volume {
	t.Helper()
	var found *corev1.Volume
	for i := range spec.Volumes {
		if spec.Volumes[i].Name == TLSVolumeName {
			if found != nil {
				t.Fatal("two TLS volumes")
			}
			found = &spec.Volumes[i]
		}
	}
	if found == nil {
		t.Fatalf("no TLS volume; volumes %+v", spec.Volumes)
	}
	return found
}

func TestHeadPodTLS(t *testing.T) {
	c := tlsCluster()
	c.Spec.EnableInTreeAutoscaling = ptr.To(true)
	c.Spec.HeadGroupSpec.Template.Spec.Containers = append(c.Spec.HeadGroupSpec.Template.Spec.Containers,
		corev1.Container{Name: "log-shipper", Image: "fluentbit"})
	pod := HeadPod(c, PodOptions{})
	checkTLSContainer(t, &pod.Spec.Containers[0])
	checkTLSContainer(t, container(t, pod, AutoscalerContainerName))
	checkNoTLS(t, container(t, pod, "log-shipper"))
	v := tlsVolume(t, &pod.Spec)
	if v.Secret == nil || v.Secret.SecretName != "demo-tls" {
		t.Errorf("TLS volume %+v, want the Secret demo-tls", v.VolumeSource)
	}
	if fs := pod.Spec.SecurityContext; fs != nil && fs.FSGroup != nil && ptr.Deref(v.Secret.DefaultMode, 0o644) != 0o440 {
		t.Errorf("with fsGroup %d the key's mode is %o, want 0440", *fs.FSGroup, *v.Secret.DefaultMode)
	}

	ray := pod.Spec.Containers[0]
	for name, p := range map[string]*corev1.Probe{"readiness": ray.ReadinessProbe, "liveness": ray.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("head %s probe %+v, want HTTPS", name, p)
		}
	}
	if p := ray.ReadinessProbe.HTTPGet; p.Path != GCSHealthPath || p.Port != intstr.FromInt32(rayv1.DashboardPort) {
		t.Errorf("head readiness probe %s:%s", p.Port.String(), p.Path)
	}

	// Without TLS nothing of it is there.
	plain := HeadPod(testCluster(), PodOptions{})
	checkNoTLS(t, &plain.Spec.Containers[0])
	if p := plain.Spec.Containers[0].ReadinessProbe.HTTPGet; p.Scheme == corev1.URISchemeHTTPS {
		t.Error("a cluster without TLS probes over HTTPS")
	}
	if slices.ContainsFunc(plain.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == TLSVolumeName }) {
		t.Error("a cluster without TLS has the TLS volume")
	}
}

func TestWorkerPodTLS(t *testing.T) {
	c := tlsCluster()
	c.Spec.TLSOptions.SecretName = ptr.To("user-tls")
	pod := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{})
	checkTLSContainer(t, &pod.Spec.Containers[0])
	if v := tlsVolume(t, &pod.Spec); v.Secret == nil || v.Secret.SecretName != "user-tls" {
		t.Errorf("worker TLS volume %+v, want the user's Secret user-tls", v.VolumeSource)
	}
	for _, p := range []*corev1.Probe{pod.Spec.Containers[0].ReadinessProbe, pod.Spec.Containers[0].LivenessProbe} {
		if p.HTTPGet.Scheme != corev1.URISchemeHTTPS || p.HTTPGet.Path != NodeHealthPath {
			t.Errorf("worker probe %+v, want HTTPS on %s", p.HTTPGet, NodeHealthPath)
		}
	}
}

// The user's own probes, and containers that set RAY_USE_TLS, are theirs.
func TestTLSLeavesTheUsersChoices(t *testing.T) {
	c := tlsCluster()
	head := &c.Spec.HeadGroupSpec.Template.Spec.Containers[0]
	head.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	head.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/mine", Port: intstr.FromInt32(9999)}}}
	pod := HeadPod(c, PodOptions{})
	if p := pod.Spec.Containers[0].LivenessProbe.HTTPGet; p.Scheme != "" {
		t.Errorf("the user's liveness probe got scheme %q", p.Scheme)
	}
	if pod.Spec.Containers[0].ReadinessProbe.Exec == nil {
		t.Error("the user's exec probe was replaced")
	}
	checkTLSContainer(t, &pod.Spec.Containers[0])

	w := &c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0]
	w.Env = []corev1.EnvVar{{Name: "RAY_USE_TLS", Value: "0"}}
	wp := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{})
	checkNoTLS(t, &wp.Spec.Containers[0])
	if e := mustEnv(t, wp.Spec.Containers[0].Env, "RAY_USE_TLS"); e.Value != "0" {
		t.Errorf("RAY_USE_TLS = %q, want the user's 0", e.Value)
	}
	if wp.Spec.Containers[0].ReadinessProbe.HTTPGet.Scheme == corev1.URISchemeHTTPS {
		t.Error("a worker without TLS probes over HTTPS")
	}
	if slices.ContainsFunc(wp.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == TLSVolumeName }) {
		t.Error("a pod where no container takes TLS has the TLS volume")
	}
}

func TestSubmitterTLS(t *testing.T) {
	c := tlsCluster()
	job := &rayv1.RayJob{Spec: rayv1.RayJobSpec{Entrypoint: "echo --address=http://x"}}
	job.Name, job.Namespace = "job", "ns1"
	j := SubmitterJob(job, c, "demo-head-svc.ns1.svc.cluster.local:8265")
	ct := &j.Spec.Template.Spec.Containers[0]
	checkTLSContainer(t, ct)
	if v := tlsVolume(t, &j.Spec.Template.Spec); v.Secret.SecretName != "demo-tls" {
		t.Errorf("submitter TLS volume %+v", v.VolumeSource)
	}
	cmd := strings.Join(append(slices.Clone(ct.Command), ct.Args...), " ")
	if !strings.Contains(cmd, "--address=https://demo-head-svc.ns1.svc.cluster.local:8265") {
		t.Errorf("submitter command %q does not call https", cmd)
	}
	if !strings.HasSuffix(cmd, "-- echo --address=http://x") {
		t.Errorf("submitter command %q changed the entrypoint", cmd)
	}

	// Without TLS: http, no mount.
	j = SubmitterJob(job, testCluster(), "demo-head-svc:8265")
	checkNoTLS(t, &j.Spec.Template.Spec.Containers[0])
	if !slices.Contains(j.Spec.Template.Spec.Containers[0].Command, "--address=http://demo-head-svc:8265") {
		t.Errorf("plain submitter command %v", j.Spec.Template.Spec.Containers[0].Command)
	}

	// SidecarMode: the submitter in the head pod.
	job.Spec.SubmissionMode = rayv1.SidecarMode
	job.Spec.RayClusterSpec = c.Spec.DeepCopy()
	rc := RayJobCluster(job, "job-abcde", "127.0.0.1:8265")
	pod := HeadPod(rc, PodOptions{})
	sub := container(t, pod, SubmitterContainerName)
	checkTLSContainer(t, sub)
	if !slices.Contains(sub.Command, "--address=https://127.0.0.1:8265") {
		t.Errorf("sidecar submitter command %v", sub.Command)
	}
}

// issued is a CA and a certificate it signed for hosts, as PEM.
type issued struct {
	caCert, caKey, cert, key []byte
}

func issue(t *testing.T, hosts []string, validity time.Duration) issued {
	t.Helper()
	ca, err := auth.NewCA("test-ca", TLSCAValidity)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("demo", hosts, validity)
	if err != nil {
		t.Fatal(err)
	}
	return issued{caCert: ca.CertPEM(), caKey: caKey, cert: cert, key: key}
}

func notAfter(t *testing.T, certPEM []byte) time.Time {
	t.Helper()
	blk, _ := pem.Decode(certPEM)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.NotAfter
}

// TestCheckTLSCert is the renewal decision on a fake clock: a certificate
// of a year is kept until 30 days before it ends, then renewed, and
// renewed at once when it no longer fits the cluster.
func TestCheckTLSCert(t *testing.T) {
	hosts := TLSHosts(tlsCluster(), "")
	is := issue(t, hosts, TLSCertValidity)
	end := notAfter(t, is.cert)
	start := time.Now()

	fresh := CheckTLSCert(is.cert, is.key, is.caCert, is.caCert, hosts, start)
	if fresh.Renew {
		t.Fatalf("a fresh certificate is renewed: %s", fresh.Reason)
	}
	if want := end.Add(-30 * 24 * time.Hour); !fresh.RenewAt.Equal(want) {
		t.Errorf("RenewAt = %v, want %v (30 days before %v)", fresh.RenewAt, want, end)
	}
	for _, tc := range []struct {
		name  string
		now   time.Time
		renew bool
	}{
		{"after 11 months", start.Add(334 * 24 * time.Hour), false},
		{"a second before the window", fresh.RenewAt.Add(-time.Second), false},
		{"at the window", fresh.RenewAt, true},
		{"29 days left", end.Add(-29 * 24 * time.Hour), true},
		{"expired", end.Add(time.Hour), true},
		{"before it starts", start.Add(-time.Hour), true},
	} {
		if got := CheckTLSCert(is.cert, is.key, is.caCert, is.caCert, hosts, tc.now); got.Renew != tc.renew {
			t.Errorf("%s: renew = %v (%s), want %v", tc.name, got.Renew, got.Reason, tc.renew)
		}
	}

	other := issue(t, hosts, TLSCertValidity)
	for _, tc := range []struct {
		name                    string
		cert, key, secretCA, ca []byte
		hosts                   []string
		reason                  string
	}{
		{"another CA signed it", other.cert, other.key, is.caCert, is.caCert, hosts, "not signed by"},
		{"the Secret's ca.crt is another", is.cert, is.key, other.caCert, is.caCert, hosts, "ca.crt"},
		{"the key is another's", is.cert, other.key, is.caCert, is.caCert, hosts, "key"},
		{"the head Service was renamed", is.cert, is.key, is.caCert, is.caCert, TLSHosts(&rayv1.RayCluster{}, ""), "names"},
		{"garbage", []byte("x"), []byte("y"), is.caCert, is.caCert, hosts, "certificate"},
	} {
		got := CheckTLSCert(tc.cert, tc.key, tc.secretCA, tc.ca, tc.hosts, start)
		if !got.Renew || !strings.Contains(got.Reason, tc.reason) {
			t.Errorf("%s: %+v, want a renewal saying %q", tc.name, got, tc.reason)
		}
	}
	// The order of the names does not matter.
	rev := slices.Clone(hosts)
	slices.Reverse(rev)
	if got := CheckTLSCert(is.cert, is.key, is.caCert, is.caCert, rev, start); got.Renew {
		t.Errorf("reordered hosts: %s", got.Reason)
	}
}

func TestCheckTLSCA(t *testing.T) {
	is := issue(t, nil, TLSCertValidity)
	now := time.Now()
	got := CheckTLSCA(is.caCert, is.caKey, now)
	if got.Renew {
		t.Fatalf("a fresh CA is renewed: %s", got.Reason)
	}
	end := notAfter(t, is.caCert)
	if !got.RenewAt.Equal(end.Add(-TLSRenewBefore)) {
		t.Errorf("CA RenewAt = %v, want 30 days before %v", got.RenewAt, end)
	}
	if got := CheckTLSCA(is.caCert, is.caKey, end.Add(-24*time.Hour)); !got.Renew {
		t.Error("a CA a day from its end is kept")
	}
	other := issue(t, nil, TLSCertValidity)
	for _, tc := range []struct {
		name      string
		cert, key []byte
		reason    string
	}{
		{"the key is another CA's", is.caCert, other.caKey, "does not belong"},
		{"a leaf certificate", is.cert, is.key, "not a CA"},
		{"no key", is.caCert, nil, "key"},
		{"garbage", []byte("x"), is.caKey, "certificate"},
	} {
		if got := CheckTLSCA(tc.cert, tc.key, now); !got.Renew || !strings.Contains(got.Reason, tc.reason) {
			t.Errorf("%s: %+v, want a renewal saying %q", tc.name, got, tc.reason)
		}
	}
}

func TestCheckUserTLSSecret(t *testing.T) {
	is := issue(t, nil, time.Hour)
	other := issue(t, nil, time.Hour)
	now := time.Now()
	ok := map[string][]byte{"tls.crt": is.cert, "tls.key": is.key, "ca.crt": is.caCert}
	if msg := CheckUserTLSSecret(ok, now); msg != "" {
		t.Fatalf("a good Secret: %s", msg)
	}
	for _, tc := range []struct {
		name string
		data map[string][]byte
		now  time.Time
		want string
	}{
		{"empty", nil, now, "has no tls.crt, tls.key, ca.crt"},
		{"no ca.crt", map[string][]byte{"tls.crt": is.cert, "tls.key": is.key}, now, "has no ca.crt"},
		{"another's key", map[string][]byte{"tls.crt": is.cert, "tls.key": other.key, "ca.crt": is.caCert}, now, "tls.key"},
		{"another CA", map[string][]byte{"tls.crt": is.cert, "tls.key": is.key, "ca.crt": other.caCert}, now, "does not verify"},
		{"expired", ok, now.Add(2 * time.Hour), "does not verify"},
		{"ca.crt not PEM", map[string][]byte{"tls.crt": is.cert, "tls.key": is.key, "ca.crt": []byte("x")}, now, "no PEM"},
	} {
		if msg := CheckUserTLSSecret(tc.data, tc.now); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %q, want it to say %q", tc.name, msg, tc.want)
		}
	}
}
