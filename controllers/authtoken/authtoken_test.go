package authtoken

import (
	"context"
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
)

func cluster(auth *rayv1.AuthOptions, headEnv ...corev1.EnvVar) *rayv1.RayCluster {
	return &rayv1.RayCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "demo"},
		Spec: rayv1.RayClusterSpec{
			AuthOptions: auth,
			HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "ray-head", Image: "goray", Env: headEnv}}}}},
		},
	}
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func fakeClient(objs ...client.Object) client.Client {
	return fake.NewClientBuilder().WithScheme(kubescheme.New()).WithObjects(objs...).Build()
}

func secretEnv(name, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: "RAY_AUTH_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}}}
}

func TestToken(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		cluster       *rayv1.RayCluster
		cached, live  []client.Object
		want, wantErr string
	}{
		{name: "disabled", cluster: cluster(&rayv1.AuthOptions{Mode: rayv1.AuthModeDisabled})},
		{name: "default: the generated Secret, from the cache", cluster: cluster(nil),
			cached: []client.Object{secret("demo", map[string]string{"auth_token": "gen"})}, want: "gen"},
		{name: "secretName: the user's Secret, from the API server", cluster: cluster(&rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("mine")}),
			live: []client.Object{secret("mine", map[string]string{"auth_token": " user \n"})}, want: "user"},
		{name: "the head's own secretKeyRef", cluster: cluster(nil, secretEnv("manual", "tok")),
			cached: []client.Object{secret("demo", map[string]string{"auth_token": "not this one"})},
			live:   []client.Object{secret("manual", map[string]string{"tok": "manual-token"})}, want: "manual-token"},
		{name: "the head's literal token", cluster: cluster(nil, corev1.EnvVar{Name: "RAY_AUTH_TOKEN", Value: "lit"}), want: "lit"},
		{name: "missing Secret", cluster: cluster(&rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("gone")}),
			wantErr: "the auth Secret ns/gone does not exist"},
		{name: "missing key", cluster: cluster(nil), cached: []client.Object{secret("demo", map[string]string{"other": "x"})},
			wantErr: "the auth Secret ns/demo has no key auth_token"},
		{name: "a ConfigMap is not read", cluster: cluster(nil, corev1.EnvVar{Name: "RAY_AUTH_TOKEN", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Key: "k"}}}),
			wantErr: "does not come from a Secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(fakeClient(tt.cached...), fakeClient(tt.live...))
			got, err := r.Token(ctx, tt.cluster)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Token = %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Token = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestTokenIsNotKeptForever: a token read from the API server is reused for
// the TTL, read again afterwards, and at once after Forget.
func TestTokenIsNotKeptForever(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Now())
	live := fakeClient(secret("mine", map[string]string{"auth_token": "one"}))
	r := New(fakeClient(), live)
	r.Clock, r.TTL = clk, time.Minute
	c := cluster(&rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("mine")})
	rotate := func(tok string) {
		s := &corev1.Secret{}
		if err := live.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "mine"}, s); err != nil {
			t.Fatal(err)
		}
		s.Data["auth_token"] = []byte(tok)
		if err := live.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want string) {
		t.Helper()
		if got, err := r.Token(ctx, c); err != nil || got != want {
			t.Fatalf("Token = %q, %v; want %q", got, err, want)
		}
	}
	check("one")
	rotate("two")
	check("one") // within the TTL
	clk.Step(61 * time.Second)
	check("two")
	rotate("three")
	r.Forget(c)
	check("three")
	// A Secret deleted is an error, not the last token seen.
	r.Forget(c)
	if err := live.Delete(ctx, secret("mine", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Token(ctx, c); err == nil {
		t.Fatal("Token of a deleted Secret succeeded")
	}
}

func TestTransportSendsTheToken(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
	}))
	defer srv.Close()
	for _, tok := range []string{"s3cret", ""} {
		resp, err := (&http.Client{Transport: Transport(tok, nil)}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	if len(got) != 2 || got[0] != "Bearer s3cret" || got[1] != "" {
		t.Errorf("Authorization headers = %q, want the token once, then none", got)
	}
}
