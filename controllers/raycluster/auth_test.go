package raycluster_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// TestAuthEnvOfPods: the pods the operator creates (through the real API
// server, so the env and securityContext pass its validation) under each
// auth setting: the head's Ray container, the autoscaler sidecar and the
// workers get RAY_AUTH_MODE and RAY_AUTH_TOKEN from the right Secret, the
// user's own sidecar gets nothing, and a token the user set is kept once.
func TestAuthEnvOfPods(t *testing.T) {
	ctx := context.Background()
	manual := corev1.EnvVar{Name: "RAY_AUTH_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "manual"}, Key: "auth_token"}}}
	tests := []struct {
		name       string
		auth       *rayv1.AuthOptions
		headEnv    []corev1.EnvVar
		wantSecret string // "" = no auth env
		generated  bool   // the operator creates the Secret
		missing    bool   // the Secret does not exist: a Warning event
	}{
		{name: "auth-default", wantSecret: "auth-default", generated: true},
		{name: "auth-token", auth: &rayv1.AuthOptions{Mode: rayv1.AuthModeToken}, wantSecret: "auth-token", generated: true},
		{name: "auth-secret-name", auth: &rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("mine")}, wantSecret: "mine", missing: true},
		{name: "auth-disabled", auth: &rayv1.AuthOptions{Mode: rayv1.AuthModeDisabled}},
		{name: "auth-manual", headEnv: []corev1.EnvVar{{Name: "RAY_AUTH_MODE", Value: "token"}, manual}, wantSecret: "manual"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster("basic", tt.name, workerGroup("w", 1, 0, 2))
			c.Spec.AuthOptions = tt.auth
			c.Spec.EnableInTreeAutoscaling = ptr.To(true)
			head := &c.Spec.HeadGroupSpec.Template.Spec
			head.Containers[0].Env = tt.headEnv
			head.Containers = append(head.Containers, corev1.Container{Name: "logs", Image: "busybox"})
			if err := k8s.Create(ctx, c); err != nil {
				t.Fatal(err)
			}
			ws := waitForCounts(t, ctx, "basic", tt.name, 1)
			heads, err := pods(ctx, "basic", tt.name, client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"})
			if err != nil || len(heads) != 1 {
				t.Fatalf("heads: %d %v", len(heads), err)
			}
			check := func(what string, ct corev1.Container, want string) {
				t.Helper()
				var mode, token []corev1.EnvVar
				for _, e := range ct.Env {
					switch e.Name {
					case "RAY_AUTH_MODE":
						mode = append(mode, e)
					case "RAY_AUTH_TOKEN":
						token = append(token, e)
					}
				}
				if want == "" {
					if len(mode)+len(token) != 0 {
						t.Errorf("%s: auth env %+v %+v, want none", what, mode, token)
					}
					return
				}
				if len(mode) != 1 || mode[0].Value != "token" || len(token) != 1 || token[0].ValueFrom == nil ||
					token[0].ValueFrom.SecretKeyRef == nil || token[0].ValueFrom.SecretKeyRef.Name != want || token[0].ValueFrom.SecretKeyRef.Key != "auth_token" {
					t.Errorf("%s: RAY_AUTH_MODE %+v, RAY_AUTH_TOKEN %+v; want token and Secret %s", what, mode, token, want)
				}
			}
			for _, ct := range heads[0].Spec.Containers {
				want := tt.wantSecret
				if ct.Name == "logs" {
					want = ""
				}
				check("head/"+ct.Name, ct, want)
			}
			if len(heads[0].Spec.Containers) != 3 {
				t.Errorf("head containers %d, want ray, logs and the autoscaler", len(heads[0].Spec.Containers))
			}
			check("worker", ws[0].Spec.Containers[0], tt.wantSecret)

			s := &corev1.Secret{}
			err = k8s.Get(ctx, client.ObjectKey{Namespace: "basic", Name: tt.name}, s)
			if tt.generated && (err != nil || len(s.Data["auth_token"]) != 64) {
				t.Errorf("generated Secret %s: %v, %d bytes of token", tt.name, err, len(s.Data["auth_token"]))
			}
			if !tt.generated && err == nil {
				t.Errorf("a Secret %s was generated, but the cluster does not use it", tt.name)
			}
			if tt.missing {
				eventually(t, "an AuthSecretNotFound event", func() (bool, error) {
					list := &corev1.EventList{}
					if err := k8s.List(ctx, list, client.InNamespace("basic")); err != nil {
						return false, err
					}
					for _, e := range list.Items {
						if e.InvolvedObject.Name == tt.name && e.Reason == "AuthSecretNotFound" {
							return true, nil
						}
					}
					return false, nil
				})
			}
		})
	}
}

// TestPodsAreHardened: the Ray containers and the autoscaler run non-root
// with a read-only root filesystem and /tmp on an emptyDir; the user's
// sidecar is left alone, and so is what the user set.
func TestPodsAreHardened(t *testing.T) {
	ctx := context.Background()
	c := newCluster("basic", "hardened", workerGroup("w", 1, 0, 2))
	c.Spec.EnableInTreeAutoscaling = ptr.To(true)
	head := &c.Spec.HeadGroupSpec.Template.Spec
	head.Containers = append(head.Containers, corev1.Container{Name: "logs", Image: "busybox"})
	w := &c.Spec.WorkerGroupSpecs[0].Template.Spec
	w.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), ReadOnlyRootFilesystem: ptr.To(false)}
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, "basic", "hardened", 1)
	heads, err := pods(ctx, "basic", "hardened", client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"})
	if err != nil || len(heads) != 1 {
		t.Fatalf("heads: %d %v", len(heads), err)
	}
	hp := heads[0]
	if sc := hp.Spec.SecurityContext; sc == nil || ptr.Deref(sc.FSGroup, 0) != 65532 {
		t.Errorf("head pod securityContext %+v, want fsGroup 65532", sc)
	}
	for _, ct := range hp.Spec.Containers {
		sc := ct.SecurityContext
		if ct.Name == "logs" {
			if sc != nil || len(ct.VolumeMounts) != 0 {
				t.Errorf("the user's sidecar was changed: %+v %+v", sc, ct.VolumeMounts)
			}
			continue
		}
		ok := sc != nil && ptr.Deref(sc.RunAsNonRoot, false) && ptr.Deref(sc.RunAsUser, 0) == 65532 && ptr.Deref(sc.RunAsGroup, 0) == 65532 &&
			ptr.Deref(sc.ReadOnlyRootFilesystem, false) && !ptr.Deref(sc.AllowPrivilegeEscalation, true) &&
			sc.Capabilities != nil && fmt.Sprint(sc.Capabilities.Drop) == "[ALL]" &&
			sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
		if !ok {
			t.Errorf("head/%s securityContext %+v, want the restricted profile", ct.Name, sc)
		}
		if len(ct.VolumeMounts) == 0 || ct.VolumeMounts[len(ct.VolumeMounts)-1].MountPath != "/tmp" {
			t.Errorf("head/%s mounts %+v, want /tmp", ct.Name, ct.VolumeMounts)
		}
	}
	wsc := ws[0].Spec.Containers[0].SecurityContext
	if ptr.Deref(wsc.RunAsUser, 0) != 1000 || wsc.RunAsGroup != nil || ptr.Deref(wsc.ReadOnlyRootFilesystem, true) || !ptr.Deref(wsc.RunAsNonRoot, false) {
		t.Errorf("worker securityContext %+v, want the user's user and writable root, non-root", wsc)
	}
	if len(ws[0].Spec.Volumes) != 0 {
		t.Errorf("worker volumes %+v: a writable root filesystem needs no /tmp volume", ws[0].Spec.Volumes)
	}
}
