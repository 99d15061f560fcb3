package desired

import (
	"fmt"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// DefaultClusterDomain is the DNS suffix of Services unless the operator is told otherwise.
const DefaultClusterDomain = "cluster.local"

// maxGenerateNamePrefix keeps generated pod names within 63 characters
// (the hostname limit) once the API server appends its 5 random characters.
const maxGenerateNamePrefix = 50

// HeadServiceName is the name of a cluster's head Service: the user's
// override from headGroupSpec.headService, else <cluster>-head-svc.
func HeadServiceName(c *rayv1.RayCluster) string {
	if hs := c.Spec.HeadGroupSpec.HeadService; hs != nil && hs.Name != "" {
		return hs.Name
	}
	return c.Name + "-head-svc"
}

// ServeServiceName is the name of a cluster's serve Service.
func ServeServiceName(clusterName string) string { return clusterName + "-serve-svc" }

// HeadlessServiceName is the Service that gives multi-host worker pods DNS names.
func HeadlessServiceName(clusterName string) string { return clusterName + "-headless" }

// AutoscalerName names the autoscaler's ServiceAccount, Role and RoleBinding.
func AutoscalerName(clusterName string) string { return clusterName }

// AuthSecretName is the Secret holding the cluster's auth token.
func AuthSecretName(c *rayv1.RayCluster) string {
	if a := c.Spec.AuthOptions; a != nil && a.SecretName != nil && *a.SecretName != "" {
		return *a.SecretName
	}
	return c.Name
}

// HeadServiceFQDN is the in-cluster DNS name of the head Service.
func HeadServiceFQDN(c *rayv1.RayCluster, clusterDomain string) string {
	if clusterDomain == "" {
		clusterDomain = DefaultClusterDomain
	}
	return fmt.Sprintf("%s.%s.svc.%s", HeadServiceName(c), c.Namespace, clusterDomain)
}

// GCSAddress is where worker nodes join the cluster.
func GCSAddress(c *rayv1.RayCluster, clusterDomain string) string {
	return fmt.Sprintf("%s:%d", HeadServiceFQDN(c, clusterDomain), gcsPort(c))
}

// DashboardURL is the address of the head's job and serve API, without a scheme (KubeRay's form).
func DashboardURL(c *rayv1.RayCluster, clusterDomain string) string {
	return fmt.Sprintf("%s:%d", HeadServiceFQDN(c, clusterDomain), headContainerPort(c, rayv1.DashboardPortName, rayv1.DashboardPort))
}

// HeadPodGenerateName is the generateName prefix of the head pod.
func HeadPodGenerateName(clusterName string) string {
	return truncatePrefix(clusterName+"-head") + "-"
}

// WorkerPodGenerateName is the generateName prefix of a group's worker pods.
func WorkerPodGenerateName(clusterName, group string) string {
	return truncatePrefix(clusterName+"-"+group+"-worker") + "-"
}

func truncatePrefix(s string) string {
	if len(s) > maxGenerateNamePrefix {
		s = s[:maxGenerateNamePrefix]
	}
	// A name may not end in '-' or '.' before the separator we add.
	for len(s) > 0 && (s[len(s)-1] == '-' || s[len(s)-1] == '.') {
		s = s[:len(s)-1]
	}
	return s
}
