package desired

import (
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// AutoscalerServiceAccount is the identity of the autoscaler sidecar. It is
// not built when the head template names its own ServiceAccount: the user
// then provides it (as with KubeRay).
func AutoscalerServiceAccount(c *rayv1.RayCluster) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: autoscalerMeta(c)}
}

// NeedsAutoscalerServiceAccount reports whether the operator creates the ServiceAccount.
func NeedsAutoscalerServiceAccount(c *rayv1.RayCluster) bool {
	sa := c.Spec.HeadGroupSpec.Template.Spec.ServiceAccountName
	return autoscalingEnabled(c) && (sa == "" || sa == AutoscalerName(c.Name))
}

// AutoscalerEnabled reports whether the cluster runs the autoscaler sidecar.
func AutoscalerEnabled(c *rayv1.RayCluster) bool { return autoscalingEnabled(c) }

// AutoscalerRole lets the autoscaler read pods, resize them, patch the
// cluster's replicas and workersToDelete and report events — nothing else.
func AutoscalerRole(c *rayv1.RayCluster) *rbacv1.Role {
	return &rbacv1.Role{
		ObjectMeta: autoscalerMeta(c),
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "patch"}},
			{APIGroups: []string{""}, Resources: []string{"pods/resize"}, Verbs: []string{"patch"}},
			{APIGroups: []string{rayv1.GroupVersion.Group}, Resources: []string{"rayclusters"}, Verbs: []string{"get", "list", "watch", "patch"}},
			// Infeasible demand is reported as a Warning event on the cluster.
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		},
	}
}

// AutoscalerRoleBinding binds AutoscalerRole to the head pod's ServiceAccount.
func AutoscalerRoleBinding(c *rayv1.RayCluster) *rbacv1.RoleBinding {
	sa := c.Spec.HeadGroupSpec.Template.Spec.ServiceAccountName
	if sa == "" {
		sa = AutoscalerName(c.Name)
	}
	return &rbacv1.RoleBinding{
		ObjectMeta: autoscalerMeta(c),
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: c.Namespace}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: AutoscalerName(c.Name)},
	}
}

func autoscalerMeta(c *rayv1.RayCluster) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            AutoscalerName(c.Name),
		Namespace:       c.Namespace,
		Labels:          objectLabels(c.Name),
		OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
	}
}
