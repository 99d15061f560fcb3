package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Ray's TLS variables.
const (
	EnvUseTLS     = "RAY_USE_TLS"
	EnvServerCert = "RAY_TLS_SERVER_CERT"
	EnvServerKey  = "RAY_TLS_SERVER_KEY"
	EnvCACert     = "RAY_TLS_CA_CERT"
)

// TLS is mutual TLS between a cluster's processes, as Ray has it: every
// process holds a certificate signed by the cluster's CA and presents it
// both as a server and as a client. A peer is trusted when its chain leads
// to the CA; host names are not checked (one cluster, one CA: pods change
// IPs and a certificate per address buys nothing the CA does not).
//
// The files are read again when they change (checked at a handshake, at
// most every ReloadInterval): a certificate renewed in its Kubernetes
// Secret reaches a running process without a restart. Connections that
// are open keep the certificate they were made with.
type TLS struct {
	certFile, keyFile, caFile string

	mu      sync.Mutex
	cur     tlsMaterial
	stamps  [3]os.FileInfo
	checked time.Time
}

// ReloadInterval is how often at most a process looks at its TLS files
// for a change.
var ReloadInterval = 10 * time.Second

type tlsMaterial struct {
	cert  tls.Certificate
	roots *x509.CertPool
}

// LoadTLS reads a certificate, its key and the CA that signs every peer.
func LoadTLS(certFile, keyFile, caFile string) (*TLS, error) {
	t := &TLS{certFile: certFile, keyFile: keyFile, caFile: caFile}
	m, stamps, err := t.load()
	if err != nil {
		return nil, err
	}
	t.cur, t.stamps, t.checked = m, stamps, time.Now()
	return t, nil
}

func (t *TLS) load() (tlsMaterial, [3]os.FileInfo, error) {
	var stamps [3]os.FileInfo
	for i, f := range []string{t.certFile, t.keyFile, t.caFile} {
		stamps[i], _ = os.Stat(f)
	}
	cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
	if err != nil {
		return tlsMaterial{}, stamps, fmt.Errorf("TLS certificate %s / key %s: %w", t.certFile, t.keyFile, err)
	}
	pem, err := os.ReadFile(t.caFile)
	if err != nil {
		return tlsMaterial{}, stamps, fmt.Errorf("TLS CA %s: %w", t.caFile, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return tlsMaterial{}, stamps, fmt.Errorf("TLS CA %s: no PEM certificate in it", t.caFile)
	}
	return tlsMaterial{cert: cert, roots: roots}, stamps, nil
}

// current is the certificate and CA to use now: read again when a file
// changed since they were loaded. A change that does not load (a file
// half written) keeps the previous ones until a later look.
func (t *TLS) current() tlsMaterial {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.certFile == "" || now.Sub(t.checked) < ReloadInterval {
		return t.cur
	}
	t.checked = now
	changed := false
	for i, f := range []string{t.certFile, t.keyFile, t.caFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return t.cur
		}
		old := t.stamps[i]
		if old == nil || !os.SameFile(old, fi) || !old.ModTime().Equal(fi.ModTime()) || old.Size() != fi.Size() {
			changed = true
		}
	}
	if !changed {
		return t.cur
	}
	if m, stamps, err := t.load(); err == nil {
		t.cur, t.stamps = m, stamps
	}
	return t.cur
}

func tlsFromLookup(getenv func(string) string) (*TLS, error) {
	switch strings.ToLower(strings.TrimSpace(getenv(EnvUseTLS))) {
	case "", "0", "false", "no":
		return nil, nil
	case "1", "true", "yes":
	default:
		return nil, fmt.Errorf("%s=%q: use 1 or 0", EnvUseTLS, getenv(EnvUseTLS))
	}
	cert, key, ca := getenv(EnvServerCert), getenv(EnvServerKey), getenv(EnvCACert)
	if cert == "" || key == "" || ca == "" {
		return nil, fmt.Errorf("%s=1 needs %s, %s and %s", EnvUseTLS, EnvServerCert, EnvServerKey, EnvCACert)
	}
	return LoadTLS(cert, key, ca)
}

// ServerConfig is the TLS of a runtime server. mutual requires a client
// certificate signed by the CA (gRPC between runtime parts); otherwise one
// is checked only when given (HTTPS APIs that browsers and curl call, which
// the token guards).
func (t *TLS) ServerConfig(mutual bool) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			m := t.current()
			return &m.cert, nil
		},
		// The client's chain is checked below against the CA of the moment
		// (ClientCAs would fix it at the start).
		ClientAuth: tls.RequestClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 && !mutual {
				return nil
			}
			return t.verifyPeer(cs.PeerCertificates)
		},
	}
	if mutual {
		c.ClientAuth = tls.RequireAnyClientCert
	}
	return c
}

// ClientConfig is the TLS of a runtime client: it presents the process's
// certificate and trusts a server whose chain leads to the CA.
func (t *TLS) ClientConfig() *tls.Config {
	return &tls.Config{
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			m := t.current()
			return &m.cert, nil
		},
		MinVersion: tls.VersionTLS12,
		// The chain is checked below against the CA, without a host name.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return t.verifyPeer(cs.PeerCertificates)
		},
	}
}

// CAClientConfig trusts the CA for an HTTPS client that has no certificate
// of its own to present (the CLI talking to a dashboard).
func (t *TLS) CAClientConfig() *tls.Config {
	c := t.ClientConfig()
	c.GetClientCertificate = nil
	return c
}

func (t *TLS) verifyPeer(chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("goray TLS: the peer presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: t.current().roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("goray TLS: the peer's certificate is not signed by this cluster's CA (%s): %w", EnvCACert, err)
	}
	return nil
}
