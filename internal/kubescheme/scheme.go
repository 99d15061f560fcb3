// Package kubescheme builds the runtime.Scheme every goray client needs:
// Kubernetes' built-in kinds and ray.io/v1. The operator, the autoscaler and
// the tests share it.
package kubescheme

import (
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// New returns a scheme with the built-in kinds and ray.io/v1.
func New() *k8sruntime.Scheme {
	s := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err) // only a programming error in a registration can get here
	}
	if err := rayv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
