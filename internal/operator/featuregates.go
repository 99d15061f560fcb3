package operator

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Feature gates: KubeRay's operator takes --feature-gates=Name=bool,... (Helm
// value featureGates: [{name, enabled}]) for its alpha and beta features.
// goray accepts the same names so that a KubeRay values file or command line
// works unchanged, but most of those features are simply on in goray, or
// not implemented, instead of switchable. Each gate's treatment is below and
// in docs/compatibility.md.

// gateSupport is what goray does with a gate.
type gateSupport int

const (
	// gateHonoured: the gate switches the feature on and off, as in KubeRay.
	gateHonoured gateSupport = iota
	// gateAlwaysOn: goray always has the feature; false is not honoured.
	gateAlwaysOn
	// gateFieldDecides: the gate guards a RayCluster field in KubeRay; goray
	// acts on the field whenever a cluster sets it, so the gate's value does
	// not matter (a cluster asking for TLS gets it).
	gateFieldDecides
	// gateNotImplemented: goray lacks the feature (the CRD field, if any,
	// gets a Warning UnsupportedField); true is not honoured.
	gateNotImplemented
	// gateRefused: true asks for something goray does another way; the
	// operator refuses to start rather than run without it.
	gateRefused
)

type featureGate struct {
	name string
	// gorayDefault: on or off when not set (honoured gates only; KubeRay's
	// defaults are in docs/compatibility.md).
	gorayDefault bool
	support      gateSupport
	// note says what goray does instead, for the log line and the error.
	note string
}

// Feature gate names (KubeRay's ray-operator/pkg/features).
const (
	GateRayClusterStatusConditions       = "RayClusterStatusConditions"
	GateRayJobDeletionPolicy             = "RayJobDeletionPolicy"
	GateRayMultiHostIndexing             = "RayMultiHostIndexing"
	GateRayServiceIncrementalUpgrade     = "RayServiceIncrementalUpgrade"
	GateRayCronJob                       = "RayCronJob"
	GateSidecarSubmitterRestart          = "SidecarSubmitterRestart"
	GateRayClusterNetworkPolicy          = "RayClusterNetworkPolicy"
	GateGCSFaultToleranceEmbeddedStorage = "GCSFaultToleranceEmbeddedStorage"
	GateRayClusterMTLS                   = "RayClusterMTLS"
	GateRayClusterHistoryServer          = "RayClusterHistoryServer"
	GateKubernetesWAS                    = "KubernetesWAS"
)

var featureGates = []featureGate{
	{GateRayClusterStatusConditions, true, gateAlwaysOn, "goray always writes the RayCluster status conditions"},
	{GateRayJobDeletionPolicy, true, gateAlwaysOn, "goray always acts on spec.deletionStrategy"},
	{GateRayMultiHostIndexing, true, gateAlwaysOn, "goray always labels multi-host replicas"},
	{GateRayServiceIncrementalUpgrade, true, gateHonoured, "false: as KubeRay, a RayService asking for NewClusterWithIncrementalUpgrade gets no new cluster when its cluster spec changes"},
	{GateRayCronJob, true, gateHonoured, "false: the RayCronJob controller does not run"},
	{GateSidecarSubmitterRestart, false, gateNotImplemented, "goray's SidecarMode submitter has no per-container restart policy"},
	{GateRayClusterNetworkPolicy, true, gateFieldDecides, "goray acts on spec.networkPolicy whenever it is set"},
	{GateGCSFaultToleranceEmbeddedStorage, false, gateNotImplemented, "goray has no rocksdb backend for GCS fault tolerance"},
	{GateRayClusterMTLS, true, gateFieldDecides, "goray acts on spec.tlsOptions whenever it is set, with its own certificates instead of cert-manager's"},
	{GateRayClusterHistoryServer, false, gateNotImplemented, "goray has no history server collector"},
	{GateKubernetesWAS, false, gateRefused, "goray selects the kube-scheduler's Workload-Aware Scheduling with its batch scheduler setting (--batch-scheduler), not a feature gate"},
}

func lookupGate(name string) (featureGate, bool) {
	i := slices.IndexFunc(featureGates, func(g featureGate) bool { return g.name == name })
	if i < 0 {
		return featureGate{}, false
	}
	return featureGates[i], true
}

// FeatureGateNames are the gates --feature-gates accepts.
func FeatureGateNames() []string {
	names := make([]string, len(featureGates))
	for i, g := range featureGates {
		names[i] = g.name
	}
	return names
}

// FeatureGates are the gates set on the command line; the others keep
// goray's default.
type FeatureGates map[string]bool

// ParseFeatureGates reads KubeRay's --feature-gates syntax, Name=true|false
// separated by commas. An unknown name or a value that is not a boolean is
// an error naming it: a misspelt gate must not leave a feature silently in
// its default state.
func ParseFeatureGates(s string) (FeatureGates, error) {
	out := FeatureGates{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("--feature-gates: %q is not Name=true or Name=false", item)
		}
		if _, known := lookupGate(name); !known {
			return nil, fmt.Errorf("--feature-gates: unknown feature gate %q (known: %s)", name, strings.Join(FeatureGateNames(), ", "))
		}
		on, err := strconv.ParseBool(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("--feature-gates: %s=%q is not a boolean", name, value)
		}
		out[name] = on
	}
	return out, nil
}

// Enabled reports whether goray runs the feature behind the gate.
func (fg FeatureGates) Enabled(name string) bool {
	g, ok := lookupGate(name)
	if !ok {
		return false
	}
	switch g.support {
	case gateAlwaysOn, gateFieldDecides:
		return true
	case gateNotImplemented, gateRefused:
		return false
	}
	if on, set := fg[name]; set {
		return on
	}
	return g.gorayDefault
}

// Check returns an error for a gate goray refuses, and a notice for each
// gate set to what goray cannot honour (for the operator to log at start).
func (fg FeatureGates) Check() (notices []string, err error) {
	for _, g := range featureGates {
		on, set := fg[g.name]
		if !set {
			continue
		}
		switch {
		case g.support == gateRefused && on:
			return nil, fmt.Errorf("feature gate %s=true: %s", g.name, g.note)
		case g.support == gateAlwaysOn && !on:
			notices = append(notices, fmt.Sprintf("feature gate %s=false is not honoured: %s", g.name, g.note))
		case g.support == gateNotImplemented && on:
			notices = append(notices, fmt.Sprintf("feature gate %s=true is not honoured: %s", g.name, g.note))
		}
	}
	return notices, nil
}
