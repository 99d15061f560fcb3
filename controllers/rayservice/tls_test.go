package rayservice

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// TestServeAPIOverTLS: the serve config goes to a TLS cluster's dashboard
// over HTTPS, trusting the CA of the cluster's certificate Secret, with
// the token; the application status is read back the same way. Without
// the Secret the cluster's serve API is not called and the reason is kept.
func TestServeAPIOverTLS(t *testing.T) {
	ctx := context.Background()
	ca, err := auth.NewCA("cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("head", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Method+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(`{"applications":{"app":{"status":"RUNNING","deployments":{}}}}`))
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	defer srv.Close()

	head := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray-head", Image: "goray"}}}}
	mk := func(name string) *rayv1.RayCluster {
		return &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: rayv1.RayClusterSpec{TLSOptions: &rayv1.TLSOptions{Enabled: ptr.To(true)}, HeadGroupSpec: rayv1.HeadGroupSpec{Template: head}},
			Status: rayv1.RayClusterStatus{Conditions: []metav1.Condition{{Type: string(rayv1.HeadPodReady), Status: metav1.ConditionTrue,
				Reason: "HeadPodRunningAndReady", LastTransitionTime: metav1.Now()}}}}
	}
	active, pending := mk("active"), mk("nosecret")
	k8s := fake.NewClientBuilder().WithScheme(kubescheme.New()).WithObjects(active, pending,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "active"}, Data: map[string][]byte{"auth_token": []byte("tok")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "nosecret"}, Data: map[string][]byte{"auth_token": []byte("tok")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "active-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM, "ca.crt": ca.CertPEM()}},
	).Build()
	var addrs []string
	r := &Reconciler{Client: k8s, Recorder: events.NewFakeRecorder(10), Tokens: authtoken.New(k8s, k8s), TLS: clustertls.New(k8s, k8s),
		DashboardAddress: func(*rayv1.RayCluster) string { return strings.TrimPrefix(srv.URL, "https://") },
		NewServeClient: func(address, token string, base http.RoundTripper) ServeClient {
			addrs = append(addrs, address)
			return NewHTTPServeClient(address, token, base)
		}}
	rs := &rayv1.RayService{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc"},
		Spec: rayv1.RayServiceSpec{ServeConfigV2: "applications:\n- name: app\n  import_path: hello\n"}}
	s := &scope{rs: rs, active: active, pending: pending, clusters: map[string]*rayv1.RayCluster{"active": active, "nosecret": pending},
		details: map[string]*schema.ServeInstanceDetails{}, apiErrors: map[string]string{}, clients: map[string]ServeClient{}, putNow: map[string]bool{}}
	if _, err := r.reconcileServe(ctx, s); err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 1 || addrs[0] != srv.URL {
		t.Errorf("serve clients for %q, want one for %s", addrs, srv.URL)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] != "PUT Bearer tok" || calls[1] != "GET Bearer tok" {
		t.Errorf("calls over HTTPS: %q, want the PUT and GET with the token", calls)
	}
	if app := rs.Status.ActiveServiceStatus.Applications["app"]; app.Status != "RUNNING" {
		t.Errorf("active applications %+v", rs.Status.ActiveServiceStatus.Applications)
	}
	if msg := s.apiErrors["nosecret"]; !strings.Contains(msg, "ns/nosecret-tls does not exist") {
		t.Errorf("the cluster without its TLS Secret: %q", msg)
	}
	if msg := s.apiErrors["active"]; msg != "" {
		t.Errorf("the TLS cluster: %q", msg)
	}
}
