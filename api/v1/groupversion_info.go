package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "ray.io", Version: "v1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	// scheme.Builder is deprecated only to keep api packages free of the
	// controller-runtime dependency; kubebuilder scaffolds and KubeRay's
	// api/ray/v1 use it too, and callers use SchemeBuilder.Register.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion} //nolint:staticcheck // see above

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
