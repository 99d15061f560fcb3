package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
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
type TLS struct {
	cert  tls.Certificate
	roots *x509.CertPool
}

// LoadTLS reads a certificate, its key and the CA that signs every peer.
func LoadTLS(certFile, keyFile, caFile string) (*TLS, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s / key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("TLS CA %s: %w", caFile, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TLS CA %s: no PEM certificate in it", caFile)
	}
	return &TLS{cert: cert, roots: roots}, nil
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
	c := &tls.Config{Certificates: []tls.Certificate{t.cert}, ClientCAs: t.roots, MinVersion: tls.VersionTLS12,
		ClientAuth: tls.VerifyClientCertIfGiven}
	if mutual {
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c
}

// ClientConfig is the TLS of a runtime client: it presents the process's
// certificate and trusts a server whose chain leads to the CA.
func (t *TLS) ClientConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{t.cert},
		MinVersion:   tls.VersionTLS12,
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
	c.Certificates = nil
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
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("goray TLS: the peer's certificate is not signed by this cluster's CA (%s): %w", EnvCACert, err)
	}
	return nil
}
