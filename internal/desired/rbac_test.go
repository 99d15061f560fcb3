package desired

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestAutoscalerRole(t *testing.T) {
	c := autoscalingCluster()
	role := AutoscalerRole(c)
	if role.Name != "demo" || role.Namespace != "ns1" {
		t.Errorf("name = %s/%s", role.Namespace, role.Name)
	}
	checkObjectLabels(t, role.Labels, "demo")
	checkOwner(t, role.OwnerReferences, c)
	want := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/resize"}, Verbs: []string{"patch"}},
		{APIGroups: []string{"ray.io"}, Resources: []string{"rayclusters"}, Verbs: []string{"get", "list", "watch", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("rules =\n %+v\nwant\n %+v", role.Rules, want)
	}
}

func TestAutoscalerRoleBinding(t *testing.T) {
	tests := []struct {
		name, sa, want string
	}{
		{"default", "", "demo"},
		{"head template sa", "custom-sa", "custom-sa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := autoscalingCluster()
			c.Spec.HeadGroupSpec.Template.Spec.ServiceAccountName = tt.sa
			rb := AutoscalerRoleBinding(c)
			if rb.Name != "demo" || rb.Namespace != "ns1" {
				t.Errorf("name = %s/%s", rb.Namespace, rb.Name)
			}
			checkObjectLabels(t, rb.Labels, "demo")
			checkOwner(t, rb.OwnerReferences, c)
			wantSubj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: tt.want, Namespace: "ns1"}}
			if !reflect.DeepEqual(rb.Subjects, wantSubj) {
				t.Errorf("subjects = %+v, want %+v", rb.Subjects, wantSubj)
			}
			wantRef := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "demo"}
			if rb.RoleRef != wantRef {
				t.Errorf("roleRef = %+v, want %+v", rb.RoleRef, wantRef)
			}
			// The subject is the account the head pod actually runs as.
			if got := HeadPod(c, PodOptions{}).Spec.ServiceAccountName; got != tt.want {
				t.Errorf("head pod runs as %q, binding names %q", got, tt.want)
			}
		})
	}
}

func TestAutoscalerServiceAccount(t *testing.T) {
	c := autoscalingCluster()
	sa := AutoscalerServiceAccount(c)
	if sa.Name != "demo" || sa.Namespace != "ns1" {
		t.Errorf("name = %s/%s", sa.Namespace, sa.Name)
	}
	checkObjectLabels(t, sa.Labels, "demo")
	checkOwner(t, sa.OwnerReferences, c)
}

func TestNeedsAutoscalerServiceAccount(t *testing.T) {
	tests := []struct {
		name      string
		autoscale *bool
		sa        string
		want      bool
	}{
		{"autoscaling off", nil, "", false},
		{"autoscaling false", ptr.To(false), "", false},
		{"default sa", ptr.To(true), "", true},
		{"sa named like the cluster", ptr.To(true), "demo", true},
		{"user sa", ptr.To(true), "other", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			c.Spec.EnableInTreeAutoscaling = tt.autoscale
			c.Spec.HeadGroupSpec.Template.Spec.ServiceAccountName = tt.sa
			if got := NeedsAutoscalerServiceAccount(c); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if got := AutoscalerEnabled(c); got != (tt.autoscale != nil && *tt.autoscale) {
				t.Errorf("AutoscalerEnabled = %v", got)
			}
		})
	}
}

func TestAuthSecret(t *testing.T) {
	tests := []struct {
		name      string
		auth      *rayv1.AuthOptions
		needs     bool
		enabled   bool
		secretNam string
	}{
		{"no auth: token by default", nil, true, true, "demo"},
		{"empty auth: token", &rayv1.AuthOptions{}, true, true, "demo"},
		{"disabled", &rayv1.AuthOptions{Mode: rayv1.AuthModeDisabled}, false, false, "demo"},
		{"token", &rayv1.AuthOptions{Mode: rayv1.AuthModeToken}, true, true, "demo"},
		{"token empty name", &rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("")}, true, true, "demo"},
		{"token user secret", &rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("mine")}, false, true, "mine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			c.Spec.AuthOptions = tt.auth
			if got := NeedsAuthSecret(c); got != tt.needs {
				t.Errorf("NeedsAuthSecret = %v, want %v", got, tt.needs)
			}
			if got := AuthTokenEnabled(c); got != tt.enabled {
				t.Errorf("AuthTokenEnabled = %v, want %v", got, tt.enabled)
			}
			if got := AuthSecretName(c); got != tt.secretNam {
				t.Errorf("AuthSecretName = %q, want %q", got, tt.secretNam)
			}
			s := AuthSecret(c, "tok-123")
			if s.Name != tt.secretNam || s.Namespace != "ns1" || s.Type != corev1.SecretTypeOpaque {
				t.Errorf("secret = %s/%s %s", s.Namespace, s.Name, s.Type)
			}
			if !reflect.DeepEqual(s.StringData, map[string]string{"auth_token": "tok-123"}) || len(s.Data) != 0 {
				t.Errorf("data = %v %v", s.StringData, s.Data)
			}
			checkObjectLabels(t, s.Labels, "demo")
			checkOwner(t, s.OwnerReferences, c)
		})
	}
}
