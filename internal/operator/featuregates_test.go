package operator

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseFeatureGates(t *testing.T) {
	tests := []struct {
		in      string
		want    FeatureGates
		wantErr string
	}{
		{in: "", want: FeatureGates{}},
		{in: "RayCronJob=false", want: FeatureGates{GateRayCronJob: false}},
		// The chart renders KubeRay's whole default list this way.
		{in: "RayClusterStatusConditions=true,RayJobDeletionPolicy=true,RayCronJob=false, RayClusterMTLS = false ,",
			want: FeatureGates{GateRayClusterStatusConditions: true, GateRayJobDeletionPolicy: true, GateRayCronJob: false, GateRayClusterMTLS: false}},
		{in: "RayCronJob=TRUE", want: FeatureGates{GateRayCronJob: true}},
		{in: "RayCronjob=true", wantErr: `unknown feature gate "RayCronjob" (known: RayClusterStatusConditions,`},
		{in: "RayCronJob", wantErr: `"RayCronJob" is not Name=true or Name=false`},
		{in: "RayCronJob=yes", wantErr: `RayCronJob="yes" is not a boolean`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFeatureGates(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestFeatureGateNamesAreKubeRays: every gate of KubeRay's
// ray-operator/pkg/features is accepted (a KubeRay values file must not stop
// the operator), and no other.
func TestFeatureGateNamesAreKubeRays(t *testing.T) {
	want := []string{"RayClusterStatusConditions", "RayJobDeletionPolicy", "RayMultiHostIndexing", "RayServiceIncrementalUpgrade",
		"RayCronJob", "SidecarSubmitterRestart", "RayClusterNetworkPolicy", "GCSFaultToleranceEmbeddedStorage", "RayClusterMTLS",
		"RayClusterHistoryServer", "KubernetesWAS"}
	if got := FeatureGateNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("gates %v, want %v", got, want)
	}
}

func TestFeatureGatesEnabled(t *testing.T) {
	tests := []struct {
		name  string
		gates FeatureGates
		gate  string
		want  bool
	}{
		{"RayCronJob on by default", nil, GateRayCronJob, true},
		{"RayCronJob off", FeatureGates{GateRayCronJob: false}, GateRayCronJob, false},
		{"RayCronJob on", FeatureGates{GateRayCronJob: true}, GateRayCronJob, true},
		{"RayServiceIncrementalUpgrade on by default", nil, GateRayServiceIncrementalUpgrade, true},
		{"RayServiceIncrementalUpgrade off", FeatureGates{GateRayServiceIncrementalUpgrade: false}, GateRayServiceIncrementalUpgrade, false},
		{"always on stays on", FeatureGates{GateRayClusterStatusConditions: false}, GateRayClusterStatusConditions, true},
		{"not implemented stays off", FeatureGates{GateRayClusterHistoryServer: true}, GateRayClusterHistoryServer, false},
		{"unknown", nil, "Nope", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.gates.Enabled(tt.gate); got != tt.want {
				t.Errorf("Enabled(%s) = %v, want %v", tt.gate, got, tt.want)
			}
		})
	}
}

func TestFeatureGatesCheck(t *testing.T) {
	tests := []struct {
		name    string
		gates   FeatureGates
		notices []string
		wantErr string
	}{
		{name: "none"},
		// KubeRay's default values file: nothing to say.
		{name: "KubeRay defaults", gates: FeatureGates{GateRayClusterStatusConditions: true, GateRayJobDeletionPolicy: true,
			GateRayMultiHostIndexing: true, GateRayServiceIncrementalUpgrade: true, GateRayCronJob: false, GateRayClusterMTLS: false, GateRayClusterNetworkPolicy: false,
			GateRayClusterHistoryServer: false, GateKubernetesWAS: false}},
		{name: "always on set false", gates: FeatureGates{GateRayJobDeletionPolicy: false},
			notices: []string{"feature gate RayJobDeletionPolicy=false is not honoured: goray always acts on spec.deletionStrategy"}},
		{name: "not implemented set true", gates: FeatureGates{GateRayClusterHistoryServer: true},
			notices: []string{"feature gate RayClusterHistoryServer=true is not honoured: goray has no history server collector"}},
		{name: "refused", gates: FeatureGates{GateKubernetesWAS: true}, wantErr: "feature gate KubernetesWAS=true: goray selects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			notices, err := tt.gates.Check()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(notices, tt.notices) {
				t.Errorf("notices %q, %v; want %q", notices, err, tt.notices)
			}
		})
	}
}
