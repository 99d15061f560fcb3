package clustertls

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/kubescheme"
	"github.com/goray-dev/goray/runtime/auth"
)

func cluster(tlsOpts *rayv1.TLSOptions) *rayv1.RayCluster {
	return &rayv1.RayCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "demo"},
		Spec: rayv1.RayClusterSpec{
			TLSOptions: tlsOpts,
			HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "ray-head", Image: "goray"}}}}},
		},
	}
}

func on() *rayv1.TLSOptions { return &rayv1.TLSOptions{Enabled: ptr.To(true)} }

func fakeClient(objs ...client.Object) client.Client {
	return fake.NewClientBuilder().WithScheme(kubescheme.New()).WithObjects(objs...).Build()
}

func tlsSecret(name string, ca []byte) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k"), "ca.crt": ca}}
}

// server is an HTTPS server whose certificate ca signed (for no name: the
// operator checks chains, not names).
func server(t *testing.T, ca *auth.CA) *httptest.Server {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue("head", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func newCA(t *testing.T) *auth.CA {
	t.Helper()
	ca, err := auth.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func get(rt http.RoundTripper, url string) error {
	resp, err := (&http.Client{Transport: rt, Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func TestURL(t *testing.T) {
	for _, tc := range []struct {
		c          *rayv1.RayCluster
		addr, want string
	}{
		{cluster(nil), "h:8265", "h:8265"},
		{cluster(&rayv1.TLSOptions{Enabled: ptr.To(false)}), "h:8265", "h:8265"},
		{cluster(on()), "h:8265", "https://h:8265"},
		{cluster(on()), "http://127.0.0.1:1", "http://127.0.0.1:1"},
	} {
		if got := URL(tc.c, tc.addr); got != tc.want {
			t.Errorf("URL(%v, %q) = %q, want %q", tc.c.Spec.TLSOptions, tc.addr, got, tc.want)
		}
	}
}

func TestTransport(t *testing.T) {
	ctx := context.Background()
	ca, other := newCA(t), newCA(t)
	srv, foreign := server(t, ca), server(t, other)

	// Without TLS: the default transport.
	r := New(fakeClient(), fakeClient())
	if rt, err := r.Transport(ctx, cluster(nil)); rt != nil || err != nil {
		t.Fatalf("without TLS: %v %v, want nil", rt, err)
	}

	// The generated Secret, from the cache.
	r = New(fakeClient(tlsSecret("demo-tls", ca.CertPEM())), fakeClient())
	rt, err := r.Transport(ctx, cluster(on()))
	if err != nil {
		t.Fatal(err)
	}
	if err := get(rt, srv.URL); err != nil {
		t.Errorf("a server of the cluster's CA: %v", err)
	}
	if err := get(rt, foreign.URL); err == nil || !strings.Contains(err.Error(), "not signed by the CA") {
		t.Errorf("a server of another CA: %v, want a refusal", err)
	}
	if again, _ := r.Transport(ctx, cluster(on())); again != rt {
		t.Error("a second client of the same cluster got another transport (no connection reuse)")
	}

	// The user's Secret, from the API server.
	mine := cluster(&rayv1.TLSOptions{Enabled: ptr.To(true), SecretName: ptr.To("mine")})
	r = New(fakeClient(), fakeClient(tlsSecret("mine", other.CertPEM())))
	rt, err = r.Transport(ctx, mine)
	if err != nil {
		t.Fatal(err)
	}
	if err := get(rt, foreign.URL); err != nil {
		t.Errorf("the user's CA: %v", err)
	}

	for _, tc := range []struct {
		name   string
		c      *rayv1.RayCluster
		cached []client.Object
		want   string
	}{
		{"no Secret", cluster(on()), nil, "the TLS Secret ns/demo-tls does not exist"},
		{"no user Secret", mine, nil, "the TLS Secret ns/mine does not exist"},
		{"no ca.crt", cluster(on()), []client.Object{tlsSecret("demo-tls", nil)}, "has no key ca.crt"},
		{"not PEM", cluster(on()), []client.Object{tlsSecret("demo-tls", []byte("junk"))}, "no PEM certificate"},
	} {
		r := New(fakeClient(tc.cached...), fakeClient())
		if _, err := r.Transport(ctx, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// A user's CA is read again after the TTL, and at once after Forget.
func TestUserCAIsNotKeptForever(t *testing.T) {
	ctx := context.Background()
	ca, next := newCA(t), newCA(t)
	srvNext := server(t, next)
	live := fakeClient(tlsSecret("mine", ca.CertPEM()))
	r := New(fakeClient(), live)
	clk := clocktesting.NewFakeClock(time.Now())
	r.Clock = clk
	c := cluster(&rayv1.TLSOptions{Enabled: ptr.To(true), SecretName: ptr.To("mine")})
	replace := func() {
		s := &corev1.Secret{}
		if err := live.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "mine"}, s); err != nil {
			t.Fatal(err)
		}
		s.Data["ca.crt"] = next.CertPEM()
		if err := live.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	trusts := func() bool {
		rt, err := r.Transport(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return get(rt, srvNext.URL) == nil
	}
	if trusts() {
		t.Fatal("trusts the next CA before it is in the Secret")
	}
	replace()
	if trusts() {
		t.Error("the CA was read again within the TTL")
	}
	r.Forget(c)
	if !trusts() {
		t.Error("Forget did not make the Secret be read again")
	}
	clk.Step(2 * DefaultTTL)
	if !trusts() {
		t.Error("after the TTL")
	}
}
