package desired

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// AuthTokenKey is the key of the token in the auth Secret (KubeRay's).
const AuthTokenKey = "auth_token"

// AuthTokenEnabled reports whether the cluster runs in token mode.
func AuthTokenEnabled(c *rayv1.RayCluster) bool {
	return c.Spec.AuthOptions != nil && c.Spec.AuthOptions.Mode == rayv1.AuthModeToken
}

// NeedsAuthSecret reports whether the operator generates the token Secret
// (token mode without a user-provided secretName).
func NeedsAuthSecret(c *rayv1.RayCluster) bool {
	return AuthTokenEnabled(c) && (c.Spec.AuthOptions.SecretName == nil || *c.Spec.AuthOptions.SecretName == "")
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
