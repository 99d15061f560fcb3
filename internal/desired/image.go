package desired

import (
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// KubeRay's manifests (its samples, `kubectl ray create cluster`, most
// users' clusters) name Ray's own images, rayproject/ray:2.52.0 and the
// like, which hold Python Ray and no goray binary: a pod that runs
// `goray start` in them never starts. The operator knows goray's runtime
// image and runs it in their place in the containers that run goray's
// commands (the Ray container, the autoscaler, a RayJob's submitter), so a
// KubeRay manifest runs unchanged. Everything else of the container (its
// resources, env, volumes, ports, pull policy, command) stays the user's.
// A user's own image is never touched, and the cluster's annotation
// goray.dev/keep-ray-image: "true" keeps Ray's images as written.

// rayImageOwners are the Docker Hub namespaces of Ray's images.
var rayImageOwners = map[string]bool{"rayproject": true, "anyscale": true}

// IsRayImage reports whether image is one of Ray's own: a repository
// named ray or ray-<variant> (ray-ml, ray-llm) under rayproject or anyscale,
// whatever registry or mirror path comes before it and whatever tag or
// digest after it (docker.io/rayproject/ray:2.52.0-py311-gpu,
// quay.io/mirror/rayproject/ray@sha256:...). rayproject/kuberay, the
// operator, and every other image are not.
func IsRayImage(image string) bool {
	repo := strings.ToLower(strings.TrimSpace(image))
	if at := strings.IndexByte(repo, '@'); at >= 0 {
		repo = repo[:at]
	}
	if colon := strings.LastIndexByte(repo, ':'); colon > strings.LastIndexByte(repo, '/') {
		repo = repo[:colon] // a tag; a colon before the last slash is a registry's port
	}
	parts := strings.Split(repo, "/")
	if len(parts) < 2 {
		return false
	}
	owner, name := parts[len(parts)-2], parts[len(parts)-1]
	return rayImageOwners[owner] && (name == "ray" || strings.HasPrefix(name, "ray-"))
}

// KeepsRayImages reports whether a cluster's annotations opt out of the
// runtime image: goray.dev/keep-ray-image: "true".
func KeepsRayImages(annotations map[string]string) bool {
	return annotations[rayv1.KeepRayImageAnnotation] == "true"
}

// RuntimeImageFor is the image a container that runs goray's commands
// gets: runtimeImage in place of a Ray image, unless the cluster keeps Ray's
// images or the operator has no runtime image (""); image otherwise. The
// bool reports a substitution.
func RuntimeImageFor(image, runtimeImage string, annotations map[string]string) (string, bool) {
	if runtimeImage == "" || image == runtimeImage || KeepsRayImages(annotations) || !IsRayImage(image) {
		return image, false
	}
	return runtimeImage, true
}

// useRuntimeImage runs runtimeImage in place of a Ray image in the
// containers of the pod that pick selects, and notes on the pod's
// annotations which containers did and the images they asked for.
func useRuntimeImage(c *rayv1.RayCluster, meta *metav1.ObjectMeta, spec *corev1.PodSpec, runtimeImage string, pick func(i int, ct *corev1.Container) bool) {
	var replaced []string
	for i := range spec.Containers {
		ct := &spec.Containers[i]
		if !pick(i, ct) {
			continue
		}
		if image, ok := RuntimeImageFor(ct.Image, runtimeImage, c.Annotations); ok {
			replaced = append(replaced, ct.Name+"="+ct.Image)
			ct.Image = image
		}
	}
	if len(replaced) == 0 {
		return
	}
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[rayv1.RuntimeImageReplacesAnnotation] = strings.Join(replaced, ",")
}

// UseRuntimeImageInJob does for a Job the operator builds from cluster c
// (a RayJob's K8sJobMode submitter, the Redis cleanup) what the pod
// builders do: its first container, when it runs goray's CLI, gets
// runtimeImage in place of a Ray image. A submitter container with a
// command of the user's own (`ray job submit ...`) keeps its image.
func UseRuntimeImageInJob(c *rayv1.RayCluster, job *batchv1.Job, runtimeImage string) {
	tmpl := &job.Spec.Template
	useRuntimeImage(c, &tmpl.ObjectMeta, &tmpl.Spec, runtimeImage, func(i int, ct *corev1.Container) bool {
		return i == 0 && len(ct.Command) > 0 && ct.Command[0] == RuntimeBinary
	})
}

// ReplacedImages reads a pod's goray.dev/runtime-image-replaces annotation:
// the containers that run the runtime image in place of a Ray image, each
// as "container=image", in the pod's order; nil when there are none.
func ReplacedImages(pod *corev1.Pod) []string {
	v := pod.Annotations[rayv1.RuntimeImageReplacesAnnotation]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}
