package desired

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// RecreateHash fingerprints what the pods are built from: the templates and
// start parameters of the head and of every worker group, but not replica
// counts, scale strategy or suspension, which change without recreating pods.
func RecreateHash(c *rayv1.RayCluster) string {
	type group struct {
		Name           string
		Template       corev1.PodTemplateSpec
		RayStartParams map[string]string
		Resources      map[string]string
		Labels         map[string]string
		NumOfHosts     int32
	}
	in := struct {
		Head    group
		Workers []group
		Auth    *rayv1.AuthOptions
		GCSFT   *rayv1.GcsFaultToleranceOptions
		// Pods with and without TLS cannot talk; omitted when unset, so the
		// hashes of clusters without it did not change when it was added.
		TLS *rayv1.TLSOptions `json:",omitempty"`
	}{
		Head: group{Template: c.Spec.HeadGroupSpec.Template, RayStartParams: c.Spec.HeadGroupSpec.RayStartParams,
			Resources: c.Spec.HeadGroupSpec.Resources, Labels: c.Spec.HeadGroupSpec.Labels},
		Auth:  c.Spec.AuthOptions,
		GCSFT: c.Spec.GcsFaultToleranceOptions,
		TLS:   c.Spec.TLSOptions,
	}
	for _, g := range c.Spec.WorkerGroupSpecs {
		in.Workers = append(in.Workers, group{Name: g.GroupName, Template: g.Template, RayStartParams: g.RayStartParams,
			Resources: g.Resources, Labels: g.Labels, NumOfHosts: g.NumOfHosts})
	}
	data, err := json.Marshal(in)
	if err != nil {
		// Marshalling API types cannot fail; an empty hash would only disable Recreate.
		return ""
	}
	sum := sha256.Sum256(data)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:15]))
}

// RecreateEnabled reports whether the cluster recreates its pods on a spec change.
func RecreateEnabled(c *rayv1.RayCluster) bool {
	u := c.Spec.UpgradeStrategy
	return u != nil && u.Type != nil && *u.Type == rayv1.RayClusterRecreate
}
