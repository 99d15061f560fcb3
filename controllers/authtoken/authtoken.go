// Package authtoken finds the auth token the operator's own clients send to a
// RayCluster's job, serve and health APIs: the token its pods run with (see
// desired.AuthTokenVar), read through the manager's client.
package authtoken

import (
	"context"
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
	"github.com/goray-dev/goray/runtime/auth"
)

// DefaultTTL is how long a token read from the API server (not the cache)
// is reused: a Secret the user rotates is picked up within it.
const DefaultTTL = time.Minute

// Reader reads cluster tokens. The zero value is not usable: use New.
type Reader struct {
	// Cached is the manager's client: the Secrets the operator generated
	// carry its label and are in its cache, so reading them costs nothing.
	Cached client.Reader
	// Live reads the API server: a user's Secret is outside the label-scoped
	// cache. What it reads is kept for TTL.
	Live  client.Reader
	Clock clock.PassiveClock
	TTL   time.Duration

	mu   sync.Mutex
	live map[secretKey]entry
}

type secretKey struct {
	types.NamespacedName
	key string
}

type entry struct {
	token   string
	expires time.Time
}

// New is a Reader over the manager's cached client and its API reader.
func New(cached, live client.Reader) *Reader {
	return &Reader{Cached: cached, Live: live, Clock: clock.RealClock{}, TTL: DefaultTTL}
}

// Token returns the token to send to cluster c, "" when c runs without
// token auth. The error says what is missing (a Secret, a key) in words a
// status message can carry.
func (r *Reader) Token(ctx context.Context, c *rayv1.RayCluster) (string, error) {
	if !desired.AuthTokenEnabled(c) {
		return "", nil
	}
	v := desired.AuthTokenVar(c)
	switch {
	case v.ValueFrom == nil:
		if strings.TrimSpace(v.Value) == "" {
			return "", fmt.Errorf("the head container's RAY_AUTH_TOKEN is empty")
		}
		return strings.TrimSpace(v.Value), nil
	case v.ValueFrom.SecretKeyRef != nil:
		ref := v.ValueFrom.SecretKeyRef
		return r.secret(ctx, secretKey{types.NamespacedName{Namespace: c.Namespace, Name: ref.Name}, ref.Key})
	default:
		return "", fmt.Errorf("the head container's RAY_AUTH_TOKEN does not come from a Secret or a value: the operator cannot read it (use a secretKeyRef or authOptions.secretName)")
	}
}

// Forget drops what is remembered of c's token, so the next Token reads it
// again (after a 401: the Secret may have changed).
func (r *Reader) Forget(c *rayv1.RayCluster) {
	v := desired.AuthTokenVar(c)
	if v.ValueFrom == nil || v.ValueFrom.SecretKeyRef == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.live, secretKey{types.NamespacedName{Namespace: c.Namespace, Name: v.ValueFrom.SecretKeyRef.Name}, v.ValueFrom.SecretKeyRef.Key})
}

func (r *Reader) secret(ctx context.Context, k secretKey) (string, error) {
	s := &corev1.Secret{}
	err := r.Cached.Get(ctx, k.NamespacedName, s)
	if apierrors.IsNotFound(err) && r.Live != nil {
		// Not ours (not in the label-scoped cache), or not cached yet.
		if tok, ok := r.remembered(k); ok {
			return tok, nil
		}
		s = &corev1.Secret{}
		err = r.Live.Get(ctx, k.NamespacedName, s)
		if err == nil {
			if tok, terr := tokenOf(s, k); terr == nil {
				r.remember(k, tok)
			}
		}
	}
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("the auth Secret %s/%s does not exist", k.Namespace, k.Name)
	}
	if err != nil {
		return "", fmt.Errorf("reading the auth Secret %s/%s: %w", k.Namespace, k.Name, err)
	}
	return tokenOf(s, k)
}

func tokenOf(s *corev1.Secret, k secretKey) (string, error) {
	tok := strings.TrimSpace(string(s.Data[k.key]))
	if tok == "" {
		tok = strings.TrimSpace(s.StringData[k.key])
	}
	if tok == "" {
		return "", fmt.Errorf("the auth Secret %s/%s has no key %s", k.Namespace, k.Name, k.key)
	}
	return tok, nil
}

func (r *Reader) remembered(k secretKey) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.live[k]
	if !ok || !r.Clock.Now().Before(e.expires) {
		return "", false
	}
	return e.token, true
}

func (r *Reader) remember(k secretKey, tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.Clock.Now()
	if r.live == nil {
		r.live = map[secretKey]entry{}
	}
	if len(r.live) >= 256 {
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
	r.live[k] = entry{token: tok, expires: now.Add(ttl)}
}

// Transport is an http.RoundTripper that sends token (none when empty)
// through base (nil: http.DefaultTransport).
func Transport(token string, base http.RoundTripper) http.RoundTripper {
	return auth.NewToken(token).Transport(base)
}
