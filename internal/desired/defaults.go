package desired

import (
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// PodDefaults are what an administrator has the operator add to every head
// and worker pod it builds, KubeRay's operator `configuration`
// (defaultContainerEnvs, defaultPodLabels, defaultPodAnnotations,
// head/workerSidecarContainers): a platform-wide telemetry setting or log
// shipper without editing every RayCluster. They are defaults: what the
// RayCluster's template or the operator itself sets is never overridden.
type PodDefaults struct {
	// Env is added to the Ray container (containers[0]) of head and workers.
	Env []corev1.EnvVar `json:"defaultContainerEnvs,omitempty"`
	// Labels and Annotations are added to head and worker pods.
	Labels      map[string]string `json:"defaultPodLabels,omitempty"`
	Annotations map[string]string `json:"defaultPodAnnotations,omitempty"`
	// HeadSidecars and WorkerSidecars are appended to the containers of head
	// pods and worker pods respectively.
	HeadSidecars   []corev1.Container `json:"headSidecarContainers,omitempty"`
	WorkerSidecars []corev1.Container `json:"workerSidecarContainers,omitempty"`
}

// reservedContainerNames are the containers the operator adds itself: a
// sidecar of that name would either be dropped or collide with them.
var reservedContainerNames = []string{AutoscalerContainerName, SubmitterContainerName}

// Validate refuses defaults that would make every pod the operator creates
// fail admission, so that a typo stops the operator at start-up with the
// offending entry named instead of failing each RayCluster later.
func (d PodDefaults) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, e := range d.Env {
		switch {
		case e.Name == "":
			errs = append(errs, fmt.Errorf("defaultContainerEnvs[%d]: name is empty", i))
		case seen[e.Name]:
			errs = append(errs, fmt.Errorf("defaultContainerEnvs[%d]: %s is given twice", i, e.Name))
		case e.Value != "" && e.ValueFrom != nil:
			errs = append(errs, fmt.Errorf("defaultContainerEnvs[%d] %s: value and valueFrom are exclusive", i, e.Name))
		}
		seen[e.Name] = true
	}
	for k, v := range d.Labels {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("defaultPodLabels key %q: %s", k, strings.Join(msgs, "; ")))
		}
		if msgs := validation.IsValidLabelValue(v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("defaultPodLabels[%q] value %q: %s", k, v, strings.Join(msgs, "; ")))
		}
	}
	for k := range d.Annotations {
		if msgs := validation.IsQualifiedName(strings.ToLower(k)); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("defaultPodAnnotations key %q: %s", k, strings.Join(msgs, "; ")))
		}
	}
	errs = append(errs, validateSidecars("headSidecarContainers", d.HeadSidecars)...)
	errs = append(errs, validateSidecars("workerSidecarContainers", d.WorkerSidecars)...)
	return errors.Join(errs...)
}

func validateSidecars(what string, cs []corev1.Container) []error {
	var errs []error
	seen := map[string]bool{}
	for i, c := range cs {
		if msgs := validation.IsDNS1123Label(c.Name); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s[%d] name %q: %s", what, i, c.Name, strings.Join(msgs, "; ")))
		}
		for _, r := range reservedContainerNames {
			if c.Name == r {
				errs = append(errs, fmt.Errorf("%s[%d]: the name %q is the operator's own container", what, i, c.Name))
			}
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("%s[%d]: name %q is given twice", what, i, c.Name))
		}
		seen[c.Name] = true
		if c.Image == "" {
			errs = append(errs, fmt.Errorf("%s[%d] %s: image is empty", what, i, c.Name))
		}
	}
	return errs
}

// Apply adds the defaults to a head or worker pod the builder finished. It
// runs last so that everything already set wins: a label, annotation or env
// var name the template or the operator set keeps its value, and a sidecar
// whose name a container of the pod already has is left out. The defaults'
// env vars come after the operator's, so they may refer to them with $(VAR).
func (d *PodDefaults) Apply(pod *corev1.Pod, nodeType rayv1.RayNodeType) {
	if d == nil {
		return
	}
	pod.Labels = addMissing(pod.Labels, d.Labels)
	pod.Annotations = addMissing(pod.Annotations, d.Annotations)
	if len(pod.Spec.Containers) > 0 && len(d.Env) > 0 {
		ray := &pod.Spec.Containers[0]
		env := make([]corev1.EnvVar, len(d.Env))
		for i := range d.Env {
			d.Env[i].DeepCopyInto(&env[i])
		}
		ray.Env = mergeEnv(ray.Env, env)
	}
	sidecars := d.WorkerSidecars
	if nodeType == rayv1.HeadNode {
		sidecars = d.HeadSidecars
	}
	for _, s := range sidecars {
		if !containerNameTaken(&pod.Spec, s.Name) {
			pod.Spec.Containers = append(pod.Spec.Containers, *s.DeepCopy())
		}
	}
}

// addMissing sets the keys of add that m lacks.
func addMissing(m, add map[string]string) map[string]string {
	for k, v := range add {
		if _, ok := m[k]; ok {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m
}

// containerNameTaken: names are unique across a pod's containers and init
// containers (API validation).
func containerNameTaken(spec *corev1.PodSpec, name string) bool {
	for _, cs := range [][]corev1.Container{spec.Containers, spec.InitContainers} {
		for _, c := range cs {
			if c.Name == name {
				return true
			}
		}
	}
	return false
}
