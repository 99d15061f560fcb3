package desired

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// AuthTokenKey is the key of the token in the auth Secret (KubeRay's).
const AuthTokenKey = "auth_token"

// The runtime's auth variables (Ray's names; runtime/auth reads them).
const (
	AuthModeEnv      = "RAY_AUTH_MODE"
	AuthTokenEnv     = "RAY_AUTH_TOKEN"
	AuthTokenPathEnv = "RAY_AUTH_TOKEN_PATH"
)

// AuthTokenEnabled reports whether the cluster runs in token mode. goray is
// secure by default, unlike KubeRay: a cluster without authOptions, or
// without a mode, runs with token auth; only mode: disabled turns it off.
func AuthTokenEnabled(c *rayv1.RayCluster) bool {
	return c.Spec.AuthOptions == nil || c.Spec.AuthOptions.Mode != rayv1.AuthModeDisabled
}

// userSecretName is authOptions.secretName when the user gave one.
func userSecretName(c *rayv1.RayCluster) string {
	if a := c.Spec.AuthOptions; a != nil && a.SecretName != nil {
		return *a.SecretName
	}
	return ""
}

// UserAuthTokenVar is the RAY_AUTH_TOKEN the user set on the head's Ray
// container (KubeRay's ray-cluster.auth-manual.yaml: a secretKeyRef to a
// Secret of their own), if any. It is the cluster's token: every container
// the operator hands a token to gets the same variable.
func UserAuthTokenVar(c *rayv1.RayCluster) (corev1.EnvVar, bool) {
	cs := c.Spec.HeadGroupSpec.Template.Spec.Containers
	if len(cs) == 0 {
		return corev1.EnvVar{}, false
	}
	for _, e := range cs[0].Env {
		if e.Name == AuthTokenEnv {
			return *e.DeepCopy(), true
		}
	}
	return corev1.EnvVar{}, false
}

// NeedsAuthSecret reports whether the operator generates the token Secret:
// token mode without a secretName, and no RAY_AUTH_TOKEN of the user's on
// the head's Ray container.
func NeedsAuthSecret(c *rayv1.RayCluster) bool {
	if !AuthTokenEnabled(c) || userSecretName(c) != "" {
		return false
	}
	_, own := UserAuthTokenVar(c)
	return !own
}

// AuthTokenVar is how a container gets the cluster's token: the head Ray
// container's own RAY_AUTH_TOKEN when the user set one (that is the token
// the head checks), else a reference to the auth_token key of the auth
// Secret (secretName or the generated one).
func AuthTokenVar(c *rayv1.RayCluster) corev1.EnvVar {
	if v, ok := UserAuthTokenVar(c); ok {
		return v
	}
	return corev1.EnvVar{Name: AuthTokenEnv, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: AuthSecretName(c)},
		Key:                  AuthTokenKey,
	}}}
}

// AddAuthEnv hands the cluster's token to a container in token mode:
// RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, each unless the container sets it
// already (a container that reads its token from a file, RAY_AUTH_TOKEN_PATH,
// gets no RAY_AUTH_TOKEN: that variable would win over its file).
func AddAuthEnv(c *rayv1.RayCluster, ct *corev1.Container) {
	if !AuthTokenEnabled(c) {
		return
	}
	ct.Env = mergeEnv(ct.Env, []corev1.EnvVar{{Name: AuthModeEnv, Value: string(rayv1.AuthModeToken)}})
	if !hasEnv(ct.Env, AuthTokenPathEnv) {
		ct.Env = mergeEnv(ct.Env, []corev1.EnvVar{AuthTokenVar(c)})
	}
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// AuthSecret holds a generated token; the caller supplies the random token.
func AuthSecret(c *rayv1.RayCluster, token string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:            AuthSecretName(c),
			Namespace:       c.Namespace,
			Labels:          objectLabels(c.Name),
			OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
		},
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{AuthTokenKey: token},
	}
}
