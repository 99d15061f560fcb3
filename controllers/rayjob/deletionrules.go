package rayjob

import (
	"fmt"

	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// deletionOrder is the order in which a job's things may go: workers before
// the cluster before the RayJob itself. For one condition, the TTLs of the
// rules must not go down along it (KubeRay's validateTTLConsistency).
var deletionOrder = []rayv1.DeletionPolicyType{rayv1.DeleteWorkers, rayv1.DeleteCluster, rayv1.DeleteSelf}

// validateDeletionStrategy is KubeRay's validation of the deletion strategy
// that the CRD's rules cannot express (utils/validation.go
// validateDeletionRules and validateLegacyDeletionPolicies): what cannot be
// applied to this RayJob's cluster, duplicated rules, TTLs out of order. A
// rule that fails would otherwise surface only when the job ends — for
// DeleteWorkers on an autoscaling cluster as a patch the RayCluster's own
// rule refuses, on every reconcile.
func validateDeletionStrategy(job *rayv1.RayJob) string {
	ds := job.Spec.DeletionStrategy
	if ds == nil {
		return ""
	}
	selector := len(job.Spec.ClusterSelector) > 0
	autoscaling := job.Spec.RayClusterSpec != nil && ptr.Deref(job.Spec.RayClusterSpec.EnableInTreeAutoscaling, false)
	check := func(field string, p rayv1.DeletionPolicyType) string {
		switch {
		case selector && (p == rayv1.DeleteCluster || p == rayv1.DeleteWorkers):
			return fmt.Sprintf("%s: %s is not supported with spec.clusterSelector: the RayJob does not own the selected cluster", field, p)
		case autoscaling && p == rayv1.DeleteWorkers:
			return fmt.Sprintf("%s: DeleteWorkers is not supported with spec.rayClusterSpec.enableInTreeAutoscaling: the autoscaler owns the worker groups' replicas (delete the cluster with DeleteCluster instead)", field)
		}
		return ""
	}

	if len(ds.DeletionRules) == 0 {
		for _, legacy := range []struct {
			field  string
			policy *rayv1.DeletionPolicy
		}{{"spec.deletionStrategy.onSuccess", ds.OnSuccess}, {"spec.deletionStrategy.onFailure", ds.OnFailure}} {
			if legacy.policy == nil || legacy.policy.Policy == nil {
				continue
			}
			p := *legacy.policy.Policy
			if msg := check(legacy.field, p); msg != "" {
				return msg
			}
			if job.Spec.ShutdownAfterJobFinishes && p == rayv1.DeleteNone {
				return legacy.field + ": DeleteNone contradicts spec.shutdownAfterJobFinishes: true"
			}
		}
		return ""
	}

	// TTLs per condition and policy, for the duplicate and order checks.
	type key struct{ status, deployment string }
	ttls := map[key]map[rayv1.DeletionPolicyType]int32{}
	var keys []key
	for i, rule := range ds.DeletionRules {
		field := fmt.Sprintf("spec.deletionStrategy.deletionRules[%d]", i)
		if msg := check(field, rule.Policy); msg != "" {
			return msg
		}
		k := key{}
		if c := rule.Condition; c.JobStatus != nil {
			k.status = string(*c.JobStatus)
		} else if c.JobDeploymentStatus != nil {
			k.deployment = string(*c.JobDeploymentStatus)
		}
		if ttls[k] == nil {
			ttls[k] = map[rayv1.DeletionPolicyType]int32{}
			keys = append(keys, k)
		}
		if _, dup := ttls[k][rule.Policy]; dup {
			return fmt.Sprintf("%s: a second %s rule for the same condition", field, rule.Policy)
		}
		ttls[k][rule.Policy] = rule.Condition.TTLSeconds
	}
	for _, k := range keys {
		var prev rayv1.DeletionPolicyType
		for _, p := range deletionOrder {
			ttl, ok := ttls[k][p]
			if !ok {
				continue
			}
			if prev != "" && ttl < ttls[k][prev] {
				cond := "jobStatus " + k.status
				if k.deployment != "" {
					cond = "jobDeploymentStatus " + k.deployment
				}
				return fmt.Sprintf("spec.deletionStrategy.deletionRules: for %s the %s ttlSeconds (%d) must be at least the %s ttlSeconds (%d): workers go before the cluster, the cluster before the RayJob",
					cond, p, ttl, prev, ttls[k][prev])
			}
			prev = p
		}
	}
	return ""
}
