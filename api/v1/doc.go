// Package v1 holds the ray.io/v1 API types that goray serves: RayCluster,
// RayJob, RayService and RayCronJob. Field names, JSON tags and enum values
// are KubeRay's, so existing manifests apply unchanged; the kubebuilder
// markers add the admission-time validation (OpenAPI and CEL) that KubeRay
// only performs at reconcile time or not at all.
//
// This package has no dependency on controllers or the runtime.
//
// +kubebuilder:object:generate=true
// +groupName=ray.io
package v1
