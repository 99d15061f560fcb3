package rayjob

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
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/authtoken"
	"github.com/goray-dev/goray/controllers/clustertls"
	"github.com/goray-dev/goray/internal/kubescheme"
	"github.com/goray-dev/goray/runtime/auth"
)

// tlsHead is an HTTPS job API whose certificate ca signed, checking the token.
func tlsHead(t *testing.T, ca *auth.CA, token string) *httptest.Server {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue("head", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"status":"RUNNING","submission_id":"job-1","entrypoint":"x"}`))
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestJobAPIOverTLS: for a cluster with tlsOptions the controller calls the
// job API over HTTPS, trusting the CA of the cluster's certificate Secret
// and sending the token; a server of another CA is refused, and a missing
// Secret is a tokenError naming it.
func TestJobAPIOverTLS(t *testing.T) {
	ctx := context.Background()
	ca, err := auth.NewCA("cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := auth.NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	head := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray-head", Image: "goray"}}}}
	mk := func(name string) *rayv1.RayCluster {
		return &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: rayv1.RayClusterSpec{TLSOptions: &rayv1.TLSOptions{Enabled: ptr.To(true)}, HeadGroupSpec: rayv1.HeadGroupSpec{Template: head}}}
	}
	k8s := fake.NewClientBuilder().WithScheme(kubescheme.New()).WithObjects(
		mk("c"), mk("nosecret"),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}, Data: map[string][]byte{"auth_token": []byte("tok")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "nosecret"}, Data: map[string][]byte{"auth_token": []byte("tok")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("-"), "tls.key": []byte("-"), "ca.crt": ca.CertPEM()}},
	).Build()
	srv, foreign := tlsHead(t, ca, "tok"), tlsHead(t, other, "tok")

	var gotAddr string
	for name, tr := range map[string]TLSReader{"TLS reader": clustertls.New(k8s, k8s), "no TLS reader (tests)": nil} {
		r := &Reconciler{Client: k8s, Tokens: authtoken.New(k8s, k8s), TLS: tr, Recorder: events.NewFakeRecorder(10),
			NewJobClient: func(address, token string, base http.RoundTripper) (JobClient, error) {
				gotAddr = address
				return NewHTTPJobClient(address, token, base)
			}}
		s := authScope("c")
		s.job.Status.DashboardURL = strings.TrimPrefix(srv.URL, "https://")
		d, err := r.getJob(ctx, s)
		if err != nil || d.Status != "RUNNING" {
			t.Fatalf("%s: the job API over HTTPS: %+v %v", name, d, err)
		}
		if gotAddr != srv.URL {
			t.Errorf("%s: NewJobClient(%q), want %q", name, gotAddr, srv.URL)
		}
		s.job.Status.DashboardURL = strings.TrimPrefix(foreign.URL, "https://")
		if _, err := r.getJob(ctx, s); err == nil || !strings.Contains(err.Error(), "not signed by the CA") {
			t.Errorf("%s: a head of another CA: %v, want a refusal", name, err)
		}
		_, err = r.getJob(ctx, authScope("nosecret"))
		if !isTokenError(err) || !strings.Contains(err.Error(), "ns/nosecret-tls does not exist") {
			t.Errorf("%s: a missing TLS Secret: %v, want a tokenError naming it", name, err)
		}
	}
}
