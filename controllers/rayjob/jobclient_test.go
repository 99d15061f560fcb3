package rayjob

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/authtoken"
	"github.com/goray-dev/goray/internal/kubescheme"
)

// forgetCounter is a TokenReader around a real one that counts Forget calls.
type forgetCounter struct {
	TokenReader
	forgot int
}

func (f *forgetCounter) Forget(c *rayv1.RayCluster) { f.forgot++; f.TokenReader.Forget(c) }

func authScope(clusterName string) *scope {
	return &scope{job: &rayv1.RayJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "job"},
		Status:     rayv1.RayJobStatus{RayClusterName: clusterName, DashboardURL: "head:8265", JobId: "job-1"},
	}}
}

// TestJobClientSendsTheClusterToken: the client the controller makes for a
// job carries its cluster's token (the generated Secret's, a user Secret's,
// none when auth is disabled); an unreadable token is a tokenError.
func TestJobClientSendsTheClusterToken(t *testing.T) {
	ctx := context.Background()
	head := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray-head", Image: "goray"}}}}
	mk := func(name string, auth *rayv1.AuthOptions) *rayv1.RayCluster {
		return &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: rayv1.RayClusterSpec{AuthOptions: auth, HeadGroupSpec: rayv1.HeadGroupSpec{Template: head}}}
	}
	k8s := fake.NewClientBuilder().WithScheme(kubescheme.New()).WithObjects(
		mk("default", nil),
		mk("user", &rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("user-secret")}),
		mk("off", &rayv1.AuthOptions{Mode: rayv1.AuthModeDisabled}),
		mk("nosecret", &rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("missing")}),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "default"}, Data: map[string][]byte{"auth_token": []byte("generated")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "user-secret"}, Data: map[string][]byte{"auth_token": []byte("users")}},
	).Build()
	var gotAddr, gotToken string
	r := &Reconciler{Client: k8s, Tokens: authtoken.New(k8s, k8s), NewJobClient: func(address, token string, base http.RoundTripper) (JobClient, error) {
		gotAddr, gotToken = address, token
		return NewHTTPJobClient(address, token, base)
	}}
	for _, tc := range []struct{ cluster, want string }{
		{"default", "generated"}, {"user", "users"}, {"off", ""}, {"deleted-cluster", ""},
	} {
		gotAddr, gotToken = "", "unset"
		if _, err := r.jobClient(ctx, authScope(tc.cluster)); err != nil {
			t.Fatalf("%s: %v", tc.cluster, err)
		}
		if gotAddr != "head:8265" || gotToken != tc.want {
			t.Errorf("%s: NewJobClient(%q, %q), want the dashboard and token %q", tc.cluster, gotAddr, gotToken, tc.want)
		}
	}
	_, err := r.jobClient(ctx, authScope("nosecret"))
	if !isTokenError(err) || !strings.Contains(err.Error(), "ns/missing does not exist") {
		t.Errorf("missing Secret: %v, want a tokenError naming it", err)
	}
}

// TestJobAPIWithToken: the HTTP client sends "Authorization: Bearer", and a
// 401 makes the controller read the token again.
func TestJobAPIWithToken(t *testing.T) {
	ctx := context.Background()
	var auths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auths = append(auths, r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") != "Bearer right" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"status":"RUNNING","submission_id":"job-1","entrypoint":"x"}`))
	}))
	defer srv.Close()
	k8s := fake.NewClientBuilder().WithScheme(kubescheme.New()).WithObjects(
		&rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}, Spec: rayv1.RayClusterSpec{
			HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray", Image: "goray"}}}}}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c"}, Data: map[string][]byte{"auth_token": []byte("wrong")}},
	).Build()
	tokens := &forgetCounter{TokenReader: authtoken.New(k8s, k8s)}
	r := &Reconciler{Client: k8s, Tokens: tokens, NewJobClient: NewHTTPJobClient, Recorder: events.NewFakeRecorder(10)}
	s := authScope("c")
	s.job.Status.DashboardURL = strings.TrimPrefix(srv.URL, "http://")

	_, err := r.getJob(ctx, s)
	if err == nil || tokens.forgot != 1 {
		t.Fatalf("wrong token: err %v, forgot %d; want a 401 and the token forgotten", err, tokens.forgot)
	}
	sec := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "c"}, sec); err != nil {
		t.Fatal(err)
	}
	sec.Data["auth_token"] = []byte("right")
	if err := k8s.Update(ctx, sec); err != nil {
		t.Fatal(err)
	}
	d, err := r.getJob(ctx, s)
	if err != nil || d.Status != "RUNNING" {
		t.Fatalf("right token: %+v %v", d, err)
	}
	if len(auths) != 2 || auths[0] != "Bearer wrong" || auths[1] != "Bearer right" {
		t.Errorf("Authorization headers %q", auths)
	}
	var te tokenError
	if errors.As(err, &te) {
		t.Error("a 401 is not a tokenError")
	}
}
