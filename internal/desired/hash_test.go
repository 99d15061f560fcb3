package desired

import (
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestRecreateHash(t *testing.T) {
	base := RecreateHash(testCluster())
	if !regexp.MustCompile(`^[a-z2-7]{24}$`).MatchString(base) {
		t.Fatalf("hash %q is not 24 lowercase base32 chars (fits a label/annotation value)", base)
	}
	if again := RecreateHash(testCluster()); again != base {
		t.Fatalf("equal specs hash differently: %q vs %q", base, again)
	}
	tests := []struct {
		name    string
		edit    func(c *rayv1.RayCluster)
		changes bool
	}{
		{"head image", func(c *rayv1.RayCluster) { c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Image = "goray:2" }, true},
		{"head template label", func(c *rayv1.RayCluster) { c.Spec.HeadGroupSpec.Template.Labels = map[string]string{"a": "b"} }, true},
		{"head rayStartParams", func(c *rayv1.RayCluster) { c.Spec.HeadGroupSpec.RayStartParams["num-cpus"] = "0" }, true},
		{"head resources", func(c *rayv1.RayCluster) { c.Spec.HeadGroupSpec.Resources = map[string]string{"X": "1"} }, true},
		{"worker image", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Image = "goray:2" }, true},
		{"worker env", func(c *rayv1.RayCluster) {
			c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "1"}}
		}, true},
		{"worker rayStartParams", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].RayStartParams["x"] = "1" }, true},
		{"worker group name", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].GroupName = "big" }, true},
		{"numOfHosts", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].NumOfHosts = 2 }, true},
		{"added worker group", func(c *rayv1.RayCluster) {
			g := c.Spec.WorkerGroupSpecs[0]
			g.GroupName = "second"
			c.Spec.WorkerGroupSpecs = append(c.Spec.WorkerGroupSpecs, g)
		}, true},
		{"auth", func(c *rayv1.RayCluster) { c.Spec.AuthOptions = &rayv1.AuthOptions{Mode: rayv1.AuthModeToken} }, true},
		{"gcs ft", func(c *rayv1.RayCluster) {
			c.Spec.GcsFaultToleranceOptions = &rayv1.GcsFaultToleranceOptions{RedisAddress: "r:6379"}
		}, true},
		{"tls", func(c *rayv1.RayCluster) { c.Spec.TLSOptions = &rayv1.TLSOptions{Enabled: ptr.To(true)} }, true},

		{"replicas", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](4) }, false},
		{"minReplicas", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].MinReplicas = ptr.To[int32](0) }, false},
		{"maxReplicas", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].MaxReplicas = ptr.To[int32](100) }, false},
		{"workersToDelete", func(c *rayv1.RayCluster) {
			c.Spec.WorkerGroupSpecs[0].ScaleStrategy.WorkersToDelete = []string{"demo-small-worker-abcde"}
		}, false},
		{"group suspend", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].Suspend = ptr.To(true) }, false},
		{"cluster suspend", func(c *rayv1.RayCluster) { c.Spec.Suspend = ptr.To(true) }, false},
		{"idle timeout", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].IdleTimeoutSeconds = ptr.To[int32](60) }, false},
		{"autoscaler options", func(c *rayv1.RayCluster) {
			c.Spec.AutoscalerOptions = &rayv1.AutoscalerOptions{IdleTimeoutSeconds: ptr.To[int32](5)}
		}, false},
		{"status", func(c *rayv1.RayCluster) { c.Status.ReadyWorkerReplicas = 3; c.Status.State = rayv1.Ready }, false},
		{"metadata", func(c *rayv1.RayCluster) { c.Generation = 99; c.ResourceVersion = "7" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			tt.edit(c)
			got := RecreateHash(c)
			if changed := got != base; changed != tt.changes {
				t.Errorf("hash changed = %v, want %v (%q vs %q)", changed, tt.changes, got, base)
			}
			if RecreateHash(c) != got {
				t.Error("hash not stable for the same spec")
			}
		})
	}
}

// TestRecreateHashUnchanged pins the hash of a cluster without TLS: adding
// a field to the hash must not change the hashes of clusters that do not
// set it, or every Recreate cluster's pods are recreated on an upgrade.
func TestRecreateHashUnchanged(t *testing.T) {
	if got, want := RecreateHash(testCluster()), "aelgxsm37fqkf6j3qr4h3hwv"; got != want {
		t.Errorf("RecreateHash(testCluster()) = %q, want %q", got, want)
	}
}

func TestRecreateHashMapOrder(t *testing.T) {
	// Maps built in different orders must hash the same.
	a, b := testCluster(), testCluster()
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		a.Spec.HeadGroupSpec.RayStartParams[k] = k
	}
	for _, k := range []string{"h", "g", "f", "e", "d", "c", "b", "a"} {
		b.Spec.HeadGroupSpec.RayStartParams[k] = k
	}
	if RecreateHash(a) != RecreateHash(b) {
		t.Error("hash depends on map insertion order")
	}
}

func TestRecreateEnabled(t *testing.T) {
	recreate, none := rayv1.RayClusterRecreate, rayv1.RayClusterUpgradeNone
	tests := []struct {
		name string
		u    *rayv1.RayClusterUpgradeStrategy
		want bool
	}{
		{"nil", nil, false},
		{"nil type", &rayv1.RayClusterUpgradeStrategy{}, false},
		{"none", &rayv1.RayClusterUpgradeStrategy{Type: &none}, false},
		{"recreate", &rayv1.RayClusterUpgradeStrategy{Type: &recreate}, true},
	}
	for _, tt := range tests {
		c := testCluster()
		c.Spec.UpgradeStrategy = tt.u
		if got := RecreateEnabled(c); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
