package desired

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// Keys of the TLS Secrets. The certificate Secret has kubernetes.io/tls's
// tls.crt and tls.key plus ca.crt (cert-manager's layout), so a Secret that
// cert-manager writes can be named in tlsOptions.secretName as it is.
const (
	TLSCertKey   = corev1.TLSCertKey       // tls.crt
	TLSKeyKey    = corev1.TLSPrivateKeyKey // tls.key
	TLSCAKey     = "ca.crt"
	TLSCAPrivKey = "ca.key"
)

// The runtime's TLS variables (Ray's names; runtime/auth reads them).
const (
	TLSUseEnv    = "RAY_USE_TLS"
	TLSCertEnv   = "RAY_TLS_SERVER_CERT"
	TLSKeyEnv    = "RAY_TLS_SERVER_KEY"
	TLSCACertEnv = "RAY_TLS_CA_CERT"
)

// TLSVolumeName is the volume of the certificate Secret in a pod, mounted
// read-only at TLSMountPath.
const (
	TLSVolumeName = "goray-tls"
	TLSMountPath  = "/etc/goray/tls"
)

// Lifetimes of what the operator issues. A certificate is renewed when
// less than TLSRenewBefore of it is left; the CA too (it outlives many
// certificates, and renewing it restarts trust across the cluster).
const (
	TLSCertValidity = 365 * 24 * time.Hour
	TLSCAValidity   = 10 * 365 * 24 * time.Hour
	TLSRenewBefore  = 30 * 24 * time.Hour
)

// TLSEnabled reports whether the cluster runs with mutual TLS.
func TLSEnabled(c *rayv1.RayCluster) bool {
	return c.Spec.TLSOptions != nil && ptr.Deref(c.Spec.TLSOptions.Enabled, false)
}

// UserTLSSecretName is tlsOptions.secretName when TLS is on and the user
// gave one: the operator then creates nothing and mounts that Secret.
func UserTLSSecretName(c *rayv1.RayCluster) string {
	if !TLSEnabled(c) || c.Spec.TLSOptions.SecretName == nil {
		return ""
	}
	return *c.Spec.TLSOptions.SecretName
}

// NeedsTLSSecrets reports whether the operator makes the cluster's CA and
// certificate Secrets (TLS on, no secretName).
func NeedsTLSSecrets(c *rayv1.RayCluster) bool {
	return TLSEnabled(c) && UserTLSSecretName(c) == ""
}

// TLSSecretName is the Secret every process's certificate comes from: the
// user's secretName, else <cluster>-tls.
func TLSSecretName(c *rayv1.RayCluster) string {
	if n := UserTLSSecretName(c); n != "" {
		return n
	}
	return c.Name + "-tls"
}

// TLSCASecretName is the Secret with the CA the operator made for the
// cluster, <cluster>-tls-ca. It is mounted nowhere: only the operator signs.
func TLSCASecretName(c *rayv1.RayCluster) string { return c.Name + "-tls-ca" }

// TLSHosts are the names the cluster's certificate carries: the head
// Service in every form a client may use (a RayService's own head Service
// too), and the loopback addresses. The runtime checks chains, not names;
// the names are for curl and browsers.
func TLSHosts(c *rayv1.RayCluster, clusterDomain string) []string {
	if clusterDomain == "" {
		clusterDomain = DefaultClusterDomain
	}
	services := []string{HeadServiceName(c)}
	if c.Labels[rayv1.RayOriginatedFromCRDKey] == "RayService" && c.Labels[rayv1.RayOriginatedFromCRNameKey] != "" {
		services = append(services, c.Labels[rayv1.RayOriginatedFromCRNameKey]+"-head-svc")
	}
	var out []string
	for _, s := range services {
		out = append(out, s, s+"."+c.Namespace, s+"."+c.Namespace+".svc", s+"."+c.Namespace+".svc."+clusterDomain)
	}
	return append(out, "localhost", "127.0.0.1", "::1")
}

// TLSCASecret holds the cluster's CA (certificate and private key).
func TLSCASecret(c *rayv1.RayCluster, certPEM, keyPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: tlsSecretMeta(c, TLSCASecretName(c)),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{TLSCAKey: certPEM, TLSCAPrivKey: keyPEM},
	}
}

// TLSSecret holds the certificate every process of the cluster presents,
// its key and the CA that signed it.
func TLSSecret(c *rayv1.RayCluster, certPEM, keyPEM, caPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: tlsSecretMeta(c, TLSSecretName(c)),
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{TLSCertKey: certPEM, TLSKeyKey: keyPEM, TLSCAKey: caPEM},
	}
}

func tlsSecretMeta(c *rayv1.RayCluster, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       c.Namespace,
		Labels:          objectLabels(c.Name),
		OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
	}
}

// CertCheck is what to do about a certificate the operator issued.
type CertCheck struct {
	// Renew is true when it must be issued again; Reason says why.
	Renew  bool
	Reason string
	// RenewAt is when a certificate that is fine now must be renewed.
	RenewAt time.Time
}

// CheckTLSCA decides whether the CA Secret's content can go on signing at
// now: a CA certificate and the private key that belongs to it, with more
// than TLSRenewBefore left.
func CheckTLSCA(certPEM, keyPEM []byte, now time.Time) CertCheck {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return CertCheck{Renew: true, Reason: "the CA certificate: " + err.Error()}
	}
	if !cert.IsCA {
		return CertCheck{Renew: true, Reason: "the CA certificate is not a CA"}
	}
	key, err := parsePrivateKeyPEM(keyPEM)
	if err != nil {
		return CertCheck{Renew: true, Reason: "the CA key: " + err.Error()}
	}
	if !samePublicKey(key.Public(), cert.PublicKey) {
		return CertCheck{Renew: true, Reason: "the CA key does not belong to the CA certificate"}
	}
	return checkLifetime("the CA", cert, now)
}

// CheckTLSCert decides whether the certificate Secret's content can stay
// at now: a certificate and its key, signed by the CA (caPEM, which the
// Secret's ca.crt must equal), naming exactly hosts, valid now and for
// more than TLSRenewBefore.
func CheckTLSCert(certPEM, keyPEM, secretCAPEM, caPEM []byte, hosts []string, now time.Time) CertCheck {
	if !bytes.Equal(bytes.TrimSpace(secretCAPEM), bytes.TrimSpace(caPEM)) {
		return CertCheck{Renew: true, Reason: "its ca.crt is not the cluster's CA"}
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return CertCheck{Renew: true, Reason: "the certificate and key: " + err.Error()}
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return CertCheck{Renew: true, Reason: "the certificate: " + err.Error()}
	}
	ca, err := parseCertPEM(caPEM)
	if err != nil {
		return CertCheck{Renew: true, Reason: "the CA certificate: " + err.Error()}
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return CertCheck{Renew: true, Reason: "the certificate is not signed by the cluster's CA"}
	}
	if got, want := certHosts(cert), sortedHosts(hosts); !slices.Equal(got, want) {
		return CertCheck{Renew: true, Reason: fmt.Sprintf("the certificate names %s, the cluster needs %s", strings.Join(got, ","), strings.Join(want, ","))}
	}
	return checkLifetime("the certificate", cert, now)
}

// CheckUserTLSSecret says what is wrong with the content of a user's TLS
// Secret (tlsOptions.secretName) at now, "" when nothing is: the three
// keys, a certificate with its own key, signed by ca.crt, valid now.
func CheckUserTLSSecret(data map[string][]byte, now time.Time) string {
	var missing []string
	for _, k := range []string{TLSCertKey, TLSKeyKey, TLSCAKey} {
		if len(data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return "has no " + strings.Join(missing, ", ")
	}
	pair, err := tls.X509KeyPair(data[TLSCertKey], data[TLSKeyKey])
	if err != nil {
		return "tls.crt and tls.key: " + err.Error()
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(data[TLSCAKey]) {
		return "ca.crt holds no PEM certificate"
	}
	certs := make([]*x509.Certificate, 0, len(pair.Certificate))
	for _, der := range pair.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return "tls.crt: " + err.Error()
		}
		certs = append(certs, c)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return "tls.crt does not verify against ca.crt: " + err.Error()
	}
	return ""
}

func checkLifetime(what string, cert *x509.Certificate, now time.Time) CertCheck {
	renewAt := cert.NotAfter.Add(-TLSRenewBefore)
	switch {
	case now.Before(cert.NotBefore):
		return CertCheck{Renew: true, Reason: fmt.Sprintf("%s is not valid before %s", what, cert.NotBefore.UTC().Format(time.RFC3339))}
	case !now.Before(cert.NotAfter):
		return CertCheck{Renew: true, Reason: fmt.Sprintf("%s expired at %s", what, cert.NotAfter.UTC().Format(time.RFC3339))}
	case !now.Before(renewAt):
		return CertCheck{Renew: true, Reason: fmt.Sprintf("%s expires at %s", what, cert.NotAfter.UTC().Format(time.RFC3339))}
	}
	return CertCheck{RenewAt: renewAt}
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func parsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM key")
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("not an EC or PKCS#8 private key")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return s, nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

func certHosts(cert *x509.Certificate) []string {
	out := slices.Clone(cert.DNSNames)
	for _, ip := range cert.IPAddresses {
		out = append(out, ip.String())
	}
	return sortedHosts(out)
}

func sortedHosts(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			h = ip.String()
		}
		if h != "" {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// addTLS mounts the cluster's certificate Secret into the pod's Ray
// container, autoscaler and job submitter and turns TLS on in them (see
// AddTLS); the probes the operator made for the Ray container (the
// template had none) use HTTPS. userRay is the template's Ray container.
func addTLS(c *rayv1.RayCluster, spec *corev1.PodSpec, userRay *corev1.Container) {
	if !TLSEnabled(c) {
		return
	}
	if len(spec.Containers) == 0 {
		return
	}
	rayOptedOut := tlsOptedOut(&spec.Containers[0])
	AddTLS(c, spec, func(i int, ct *corev1.Container) bool {
		return i == 0 || ct.Name == AutoscalerContainerName || ct.Name == SubmitterContainerName
	})
	if rayOptedOut {
		return
	}
	ray := &spec.Containers[0]
	if userRay == nil || userRay.ReadinessProbe == nil {
		httpsProbe(ray.ReadinessProbe)
	}
	if userRay == nil || userRay.LivenessProbe == nil {
		httpsProbe(ray.LivenessProbe)
	}
}

// AddTLS gives the containers of spec that pick selects the cluster's
// certificate: the Secret mounted read-only at TLSMountPath and
// RAY_USE_TLS=1 with the three RAY_TLS_* paths. A container that sets
// RAY_USE_TLS itself is left alone (the user's choice, either way). A job
// submit command the operator wrote (goray job submit --address=http://…)
// is pointed at https. The key is readable by the pod's fsGroup only when
// the pod has one.
func AddTLS(c *rayv1.RayCluster, spec *corev1.PodSpec, pick func(i int, ct *corev1.Container) bool) {
	if !TLSEnabled(c) {
		return
	}
	mounted := false
	for i := range spec.Containers {
		ct := &spec.Containers[i]
		if !pick(i, ct) || tlsOptedOut(ct) {
			continue
		}
		if !slices.ContainsFunc(ct.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == TLSVolumeName || path.Clean(m.MountPath) == TLSMountPath
		}) {
			ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: TLSVolumeName, MountPath: TLSMountPath, ReadOnly: true})
		}
		ct.Env = mergeEnv(ct.Env, []corev1.EnvVar{
			{Name: TLSUseEnv, Value: "1"},
			{Name: TLSCertEnv, Value: path.Join(TLSMountPath, TLSCertKey)},
			{Name: TLSKeyEnv, Value: path.Join(TLSMountPath, TLSKeyKey)},
			{Name: TLSCACertEnv, Value: path.Join(TLSMountPath, TLSCAKey)},
		})
		httpsSubmitAddress(ct)
		mounted = true
	}
	if !mounted || slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == TLSVolumeName }) {
		return
	}
	src := &corev1.SecretVolumeSource{SecretName: TLSSecretName(c)}
	if spec.SecurityContext != nil && spec.SecurityContext.FSGroup != nil {
		src.DefaultMode = ptr.To[int32](0o440)
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: TLSVolumeName, VolumeSource: corev1.VolumeSource{Secret: src}})
}

// templateRay is a template's Ray container (the first), nil without one.
func templateRay(t *corev1.PodTemplateSpec) *corev1.Container {
	if len(t.Spec.Containers) == 0 {
		return nil
	}
	return &t.Spec.Containers[0]
}

// tlsOptedOut: the container decides about TLS itself.
func tlsOptedOut(ct *corev1.Container) bool { return hasEnvVar(ct.Env, TLSUseEnv) }

func hasEnvVar(env []corev1.EnvVar, name string) bool {
	return slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
}

// httpsProbe makes an HTTP GET probe use HTTPS: the kubelet does not check
// the certificate, and the health endpoints need no client certificate.
func httpsProbe(p *corev1.Probe) {
	if p != nil && p.HTTPGet != nil && (p.HTTPGet.Scheme == "" || p.HTTPGet.Scheme == corev1.URISchemeHTTP) {
		p.HTTPGet.Scheme = corev1.URISchemeHTTPS
	}
}

// httpsSubmitAddress turns the --address=http://… of a `goray job submit`
// command into https://: a TLS cluster's dashboard speaks only HTTPS.
func httpsSubmitAddress(ct *corev1.Container) {
	words := append(slices.Clone(ct.Command), ct.Args...)
	if len(words) < 3 || path.Base(words[0]) != RuntimeBinary || words[1] != "job" || words[2] != "submit" {
		return
	}
	for _, list := range [][]string{ct.Command, ct.Args} {
		for i, w := range list {
			if rest, ok := strings.CutPrefix(w, "--address=http://"); ok {
				list[i] = "--address=https://" + rest
			}
			if w == "--" {
				return // the entrypoint follows: not ours to change
			}
		}
	}
}
