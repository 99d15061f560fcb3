package schema

import (
	"fmt"
	"math"
	"unicode/utf8"
)

// The limits of a serve deploy config (docs/compatibility.md, "Job and
// serve API limits"). Ray sets none; goray refuses a config over any of them
// with a 400 naming the field and the limit, so that one PUT cannot make the
// head start unbounded work. Lengths are in bytes.
const (
	// MaxConfigBytes bounds the body of PUT /api/serve/applications/ (larger: 413).
	MaxConfigBytes = 16 << 20
	// MaxApplications bounds the applications of one config.
	MaxApplications = 256
	// MaxDeploymentsPerApplication bounds an application's deployments list.
	MaxDeploymentsPerApplication = 128
	// MaxReplicasPerDeployment bounds num_replicas and the autoscaling
	// min_replicas, max_replicas and initial_replicas of one deployment.
	MaxReplicasPerDeployment = 1000
	// MaxReplicasPerCluster bounds the replicas all deployments of a config
	// may run together, counting each at its most (num_replicas, or
	// max_replicas when it autoscales). The controller applies it to the
	// code's options as well; GORAY_SERVE_MAX_REPLICAS on the head changes it.
	MaxReplicasPerCluster = 4096
	// MaxUserConfigBytes bounds a deployment's user_config and MaxArgsBytes
	// an application's args, as JSON.
	MaxUserConfigBytes = 1 << 20
	MaxArgsBytes       = 1 << 20
	// MaxNameBytes bounds application and deployment names, which may not
	// hold control characters.
	MaxNameBytes = 256
	// MaxImportPathBytes and MaxRoutePrefixBytes bound import_path and
	// route_prefix.
	MaxImportPathBytes  = 1024
	MaxRoutePrefixBytes = 1024
	// MaxBinaryBytes bounds runtime_env.binary (a file name or a path).
	MaxBinaryBytes = 4096
	// MaxResourceQuantity bounds ray_actor_options num_cpus, num_gpus and
	// each resources value (memory is in bytes and bounded by
	// MaxMemoryBytes).
	MaxResourceQuantity = 1e6
	MaxMemoryBytes      = 1 << 50
	// MaxDurationS bounds every *_s setting (about 31 years): seconds beyond
	// it do not fit a time.Duration.
	MaxDurationS = 1e9
	// MaxScalingFactor bounds upscaling_factor and downscaling_factor, and
	// MinTargetOngoingRequests is the smallest target_ongoing_requests.
	MaxScalingFactor         = 1e6
	MinTargetOngoingRequests = 1e-3
)

// nameProblem says what is wrong with an application or deployment name ("" if nothing).
func nameProblem(name string) string {
	if len(name) > MaxNameBytes {
		return fmt.Sprintf("is %d bytes, more than the limit of %d", len(name), MaxNameBytes)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return "may not hold control characters"
		}
	}
	return ""
}

// quoteClip quotes a user's string for a message, clipped to n bytes.
func quoteClip(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:cut], len(s))
}

// finite reports whether v is a number a duration or a quantity may be.
func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// ReplicaUpperBound is the most replicas a resolved deployment may run:
// num_replicas, or max_replicas when it autoscales.
func ReplicaUpperBound(r Resolved) int {
	if r.Autoscaling != nil {
		return max(r.Autoscaling.MaxReplicas, r.Autoscaling.MinReplicas)
	}
	return r.NumReplicas
}
