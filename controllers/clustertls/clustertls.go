// Package clustertls gives the operator's own clients of a RayCluster's
// HTTPS APIs (job and serve API on the dashboard) what they need when the
// cluster runs with tlsOptions: the https scheme and a transport that
// trusts the cluster's CA, read from ca.crt of the cluster's certificate
// Secret. The operator presents no certificate: the HTTP APIs check one
// only when it is given, and the token guards them.
package clustertls

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// DefaultTTL is how long a CA read from the API server (a user's Secret,
// not in the cache) is reused.
const DefaultTTL = time.Minute

// maxTransports bounds the transports kept (one per CA, so one per TLS
// cluster); the oldest is dropped, its idle connections closed.
const maxTransports = 256

// Reader finds the transport to a cluster's HTTPS APIs. Use New.
type Reader struct {
	// Cached is the manager's client: the certificate Secret the operator
	// made carries its label and is in its cache.
	Cached client.Reader
	// Live reads the API server: a user's Secret (tlsOptions.secretName)
	// is outside the label-scoped cache. What it reads is kept for TTL.
	Live  client.Reader
	Clock clock.PassiveClock
	TTL   time.Duration

	mu         sync.Mutex
	live       map[types.NamespacedName]liveCA
	transports map[[32]byte]*entry
}

type liveCA struct {
	pem     []byte
	expires time.Time
}

type entry struct {
	transport *http.Transport
	used      time.Time
}

// New is a Reader over the manager's cached client and its API reader.
func New(cached, live client.Reader) *Reader {
	return &Reader{Cached: cached, Live: live, Clock: clock.RealClock{}, TTL: DefaultTTL}
}

// Enabled reports whether the operator reaches c's HTTP APIs over HTTPS.
func Enabled(c *rayv1.RayCluster) bool { return desired.TLSEnabled(c) }

// URL is a dashboard address (host:port, KubeRay's form) as the operator
// calls it: https://host:port for a TLS cluster; otherwise, or when it
// names a scheme, the address as it is (the clients default to http).
func URL(c *rayv1.RayCluster, address string) string {
	if Enabled(c) && !strings.Contains(address, "://") {
		return "https://" + address
	}
	return address
}

// Transport is the base transport of a client of c's HTTPS APIs, trusting
// the cluster's CA (chains are checked, not host names: the operator may
// reach the head by any of its names, and a user's certificate need not
// carry them). It is nil when c runs without TLS (the default transport).
// Clients of clusters with the same CA share one transport and its
// connections. The error says what is missing in words a status message
// can carry.
func (r *Reader) Transport(ctx context.Context, c *rayv1.RayCluster) (http.RoundTripper, error) {
	if !Enabled(c) {
		return nil, nil
	}
	ca, err := r.caPEM(ctx, c)
	if err != nil {
		return nil, err
	}
	return r.transport(ca)
}

// Forget drops what is remembered of c's CA, so the next Transport reads
// the Secret again (after a certificate the CA did not verify: the user
// may have replaced it).
func (r *Reader) Forget(c *rayv1.RayCluster) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, types.NamespacedName{Namespace: c.Namespace, Name: desired.TLSSecretName(c)})
}

func (r *Reader) caPEM(ctx context.Context, c *rayv1.RayCluster) ([]byte, error) {
	key := types.NamespacedName{Namespace: c.Namespace, Name: desired.TLSSecretName(c)}
	s := &corev1.Secret{}
	err := r.Cached.Get(ctx, key, s)
	if apierrors.IsNotFound(err) && r.Live != nil && !desired.NeedsTLSSecrets(c) {
		// The user's Secret: not in the label-scoped cache.
		if ca, ok := r.remembered(key); ok {
			return ca, nil
		}
		s = &corev1.Secret{}
		if err = r.Live.Get(ctx, key, s); err == nil && len(s.Data[desired.TLSCAKey]) > 0 {
			r.remember(key, s.Data[desired.TLSCAKey])
		}
	}
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("the TLS Secret %s does not exist", key)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the TLS Secret %s: %w", key, err)
	}
	ca := s.Data[desired.TLSCAKey]
	if len(ca) == 0 {
		return nil, fmt.Errorf("the TLS Secret %s has no key %s (the CA that signs the cluster's certificate)", key, desired.TLSCAKey)
	}
	return ca, nil
}

func (r *Reader) remembered(k types.NamespacedName) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.live[k]
	if !ok || !r.Clock.Now().Before(e.expires) {
		return nil, false
	}
	return e.pem, true
}

func (r *Reader) remember(k types.NamespacedName, ca []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Clock.Now()
	if r.live == nil {
		r.live = map[types.NamespacedName]liveCA{}
	}
	if len(r.live) >= maxTransports {
		for old, e := range r.live {
			if !now.Before(e.expires) {
				delete(r.live, old)
			}
		}
	}
	ttl := r.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	r.live[k] = liveCA{pem: ca, expires: now.Add(ttl)}
}

// transport is the shared transport trusting the CA in caPEM.
func (r *Reader) transport(caPEM []byte) (http.RoundTripper, error) {
	sum := sha256.Sum256(caPEM)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Clock.Now()
	if e, ok := r.transports[sum]; ok {
		e.used = now
		return e.transport, nil
	}
	cfg, err := ClientConfig(caPEM)
	if err != nil {
		return nil, err
	}
	if r.transports == nil {
		r.transports = map[[32]byte]*entry{}
	}
	if len(r.transports) >= maxTransports {
		var oldest [32]byte
		var at time.Time
		for k, e := range r.transports {
			if at.IsZero() || e.used.Before(at) {
				oldest, at = k, e.used
			}
		}
		r.transports[oldest].transport.CloseIdleConnections()
		delete(r.transports, oldest)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	r.transports[sum] = &entry{transport: t, used: now}
	return t, nil
}

// ClientConfig trusts a server whose certificate chain leads to a CA in
// caPEM, whatever names it carries (as the runtime's own clients do).
func ClientConfig(caPEM []byte) (*tls.Config, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the TLS Secret's ca.crt holds no PEM certificate")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The chain is checked below against the CA, without a host name.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the cluster presented no TLS certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
			if err != nil {
				return fmt.Errorf("the cluster's TLS certificate is not signed by the CA of its Secret: %w", err)
			}
			return nil
		},
	}, nil
}
