package rayservice

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"sigs.k8s.io/yaml"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/raystart"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Annotations the controller keeps on the clusters it creates.
const (
	// ClusterHashAnnotation is the spec hash the cluster was built from.
	ClusterHashAnnotation = rayv1.HashWithoutReplicasAnnotationKey
	// ServeConfigHashAnnotation is the hash of the serve config last applied.
	ServeConfigHashAnnotation = "ray.io/serve-config-hash"
	// DeleteAfterAnnotation marks a replaced cluster with the time it goes.
	DeleteAfterAnnotation = "ray.io/delete-after"
)

// clusterHash fingerprints the cluster spec without the fields that change
// in place (replicas, min/max, workersToDelete), so only a real change of
// the pods' shape brings up a new cluster.
func clusterHash(spec *rayv1.RayClusterSpec) string {
	s := spec.DeepCopy()
	for i := range s.WorkerGroupSpecs {
		g := &s.WorkerGroupSpecs[i]
		g.Replicas, g.MinReplicas, g.MaxReplicas, g.ScaleStrategy = nil, nil, nil, rayv1.ScaleStrategy{}
	}
	return hashOf(s)
}

func hashOf(v any) string {
	data, _ := json.Marshal(v)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:10])
}

// serveConfigJSON converts serveConfigV2 (YAML) to the JSON the serve API takes.
func serveConfigJSON(yamlConfig string) ([]byte, error) {
	return yaml.YAMLToJSON([]byte(yamlConfig))
}

// servePortMismatch is why the serve config's http_options.port disagrees
// with the port the cluster's serve Service sends traffic to, "" when it
// does not (or says nothing, or the config does not parse: validate reports
// that). In Ray, http_options.port is where the proxies listen and the
// container port named serve only tells KubeRay's Service; goray's proxies
// listen on the Ray container's serve port (or rayStartParams serve-port),
// so http_options.port decides nothing and a disagreement means the user
// expects traffic on a port where nothing listens.
func servePortMismatch(rs *rayv1.RayService) string {
	data, err := serveConfigJSON(rs.Spec.ServeConfigV2)
	if err != nil {
		return ""
	}
	var cfg schema.ServeDeploySchema
	if json.Unmarshal(data, &cfg) != nil || cfg.HTTPOptions == nil || cfg.HTTPOptions.Port == 0 {
		return ""
	}
	c := &rayv1.RayCluster{Spec: rs.Spec.RayClusterSpec}
	want := cfg.HTTPOptions.Port
	target := desired.ServeTargetPort(c)
	head := raystart.ServePort(desired.HeadStartParams(c))
	switch {
	case int(target) != want:
		return fmt.Sprintf("spec.serveConfigV2 http_options.port is %d but the serve Service sends traffic to port %d "+
			"(the head container's port named serve, default 8000); goray's serve proxies listen on that port, not on http_options.port: "+
			"name the Ray containers' serve port %d, as KubeRay's ray-service.different-port.yaml does (see docs/compatibility.md)", want, target, want)
	case int(head) != want:
		return fmt.Sprintf("spec.serveConfigV2 http_options.port is %d but the head's serve proxy listens on %d "+
			"(rayStartParams serve-port, which wins over the container's serve port): drop serve-port or set it to %d (see docs/compatibility.md)", want, head, want)
	}
	return ""
}

// upgradeStrategy is NewCluster unless the spec says otherwise.
func upgradeStrategy(rs *rayv1.RayService) rayv1.RayServiceUpgradeType {
	if u := rs.Spec.UpgradeStrategy; u != nil && u.Type != nil {
		return *u.Type
	}
	return rayv1.NewCluster
}

// deletionDelay is rayClusterDeletionDelaySeconds (default 60 s).
func deletionDelay(rs *rayv1.RayService) time.Duration {
	if d := rs.Spec.RayClusterDeletionDelaySeconds; d != nil {
		return time.Duration(*d) * time.Second
	}
	return 60 * time.Second
}

// initializingTimedOut reports whether the ray.io/initializing-timeout
// annotation has passed without any cluster serving.
func initializingTimedOut(rs *rayv1.RayService, now time.Time) (bool, time.Duration) {
	v := rs.Annotations[rayv1.InitializingTimeoutAnnotationKey]
	if v == "" || rs.Status.ActiveServiceStatus.RayClusterName != "" {
		return false, 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		if secs, err2 := time.ParseDuration(v + "s"); err2 == nil {
			d = secs
		} else {
			return false, 0
		}
	}
	return now.Sub(rs.CreationTimestamp.Time) > d, d
}

// dueForDeletion reports whether a replaced cluster's delay has passed.
func dueForDeletion(c *rayv1.RayCluster, now time.Time) (bool, time.Duration) {
	v, ok := c.Annotations[DeleteAfterAnnotation]
	if !ok {
		return false, 0
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return true, 0
	}
	if !now.Before(at) {
		return true, 0
	}
	return false, at.Sub(now)
}
