package desired

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

const testRuntimeImage = "goray/goray:1.2.3"

func TestIsRayImage(t *testing.T) {
	tests := []struct {
		image string
		want  bool
	}{
		{"rayproject/ray:2.52.0", true},
		{"rayproject/ray", true},
		{"rayproject/ray:latest", true},
		{"docker.io/rayproject/ray:2.52.0-py311-gpu", true},
		{"index.docker.io/rayproject/ray:2.9.0", true},
		{"rayproject/ray-ml:2.9.0-gpu", true},
		{"rayproject/ray-llm:2.52.0-py311-cu128", true},
		{"anyscale/ray:2.52.0-slim-py312-cu128", true},
		{"anyscale/ray-llm:2.44.1-py311-cu124", true},
		{"quay.io/mirror/rayproject/ray@sha256:" + sha, true},
		{"quay.io/mirror/rayproject/ray:2.52.0@sha256:" + sha, true},
		{"localhost:5000/rayproject/ray:2.52.0", true},
		{"registry.example.com:5000/team/anyscale/ray", true},
		{"RayProject/Ray:2.52.0", true},
		// Not Ray's runtime images.
		{"goray/goray:dev", false},
		{"goray/goray:2.52.0", false},
		{"registry.example.com/team/goray:1", false},
		{"rayproject/kuberay:v1.5.0", false}, // the KubeRay operator
		{"rayproject/raytrace:1", false},
		{"myorg/ray:2.52.0", false},
		{"ray:2.52.0", false},
		{"rayproject:5000/ray", false}, // a registry host named rayproject, image "ray"
		{"rayproject/ray/extra:1", false},
		{"fluent/fluent-bit:1.9.6", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsRayImage(tt.image); got != tt.want {
			t.Errorf("IsRayImage(%q) = %v, want %v", tt.image, got, tt.want)
		}
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestRuntimeImageFor(t *testing.T) {
	keep := map[string]string{rayv1.KeepRayImageAnnotation: "true"}
	tests := []struct {
		name, image, runtime string
		annotations          map[string]string
		want                 string
		substituted          bool
	}{
		{"Ray image", "rayproject/ray:2.52.0", testRuntimeImage, nil, testRuntimeImage, true},
		{"Ray image by digest", "docker.io/rayproject/ray@sha256:" + sha, testRuntimeImage, map[string]string{"other": "x"}, testRuntimeImage, true},
		{"user's goray image", "registry.example.com/team/goray:1", testRuntimeImage, nil, "registry.example.com/team/goray:1", false},
		{"already the runtime image", testRuntimeImage, testRuntimeImage, nil, testRuntimeImage, false},
		{"opt-out", "rayproject/ray:2.52.0", testRuntimeImage, keep, "rayproject/ray:2.52.0", false},
		{"opt-out only with true", "rayproject/ray:2.52.0", testRuntimeImage, map[string]string{rayv1.KeepRayImageAnnotation: "false"}, testRuntimeImage, true},
		{"no runtime image", "rayproject/ray:2.52.0", "", nil, "rayproject/ray:2.52.0", false},
		{"empty image", "", testRuntimeImage, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RuntimeImageFor(tt.image, tt.runtime, tt.annotations)
			if got != tt.want || ok != tt.substituted {
				t.Errorf("RuntimeImageFor(%q, %q, %v) = %q, %v; want %q, %v", tt.image, tt.runtime, tt.annotations, got, ok, tt.want, tt.substituted)
			}
		})
	}
}

// kubeRayCluster is testCluster as KubeRay's samples write it: Ray's image,
// with resources, env, volumes, ports, a pull policy and a command of the
// user's in both groups, the autoscaler on and a log-shipping sidecar in
// the head.
func kubeRayCluster() *rayv1.RayCluster {
	c := testCluster()
	ray := func(name string) corev1.Container {
		return corev1.Container{
			Name:            name,
			Image:           "rayproject/ray:2.52.0",
			ImagePullPolicy: corev1.PullAlways,
			Command:         []string{"ulimit", "-n", "65536"},
			Resources: corev1.ResourceRequirements{
				Requests: limits("cpu", "1", "memory", "5Gi"),
				Limits:   limits("cpu", "1", "memory", "5Gi", "nvidia.com/gpu", "1"),
			},
			Env:          []corev1.EnvVar{{Name: "MY_SETTING", Value: "42"}},
			EnvFrom:      []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
			VolumeMounts: []corev1.VolumeMount{{Name: "ray-logs", MountPath: "/tmp/ray"}},
			Ports:        []corev1.ContainerPort{{Name: "gcs-server", ContainerPort: 6379}, {Name: "my-port", ContainerPort: 9999}},
		}
	}
	volumes := []corev1.Volume{{Name: "ray-logs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	c.Spec.HeadGroupSpec.Template.Spec.Containers = []corev1.Container{ray("ray-head"),
		{Name: "fluentbit", Image: "fluent/fluent-bit:1.9.6", VolumeMounts: []corev1.VolumeMount{{Name: "ray-logs", MountPath: "/tmp/ray"}}}}
	c.Spec.HeadGroupSpec.Template.Spec.Volumes = volumes
	c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers = []corev1.Container{ray("ray-worker")}
	c.Spec.WorkerGroupSpecs[0].Template.Spec.Volumes = volumes
	c.Spec.EnableInTreeAutoscaling = ptr.To(true)
	return c
}

// TestRuntimeImageKeepsTheContainer: a KubeRay cluster's head and worker
// pods are the pods they would be without the substitution except for the
// images of the Ray container and the autoscaler (resources, env, volumes,
// ports, pull policy and command stay the user's) and the annotation that
// names what was replaced. The user's sidecar keeps its image.
func TestRuntimeImageKeepsTheContainer(t *testing.T) {
	c := kubeRayCluster()
	tests := []struct {
		name  string
		build func(PodOptions) *corev1.Pod
		want  map[string]string // container → image after the substitution
		note  string
	}{
		{"head", func(o PodOptions) *corev1.Pod { return HeadPod(c, o) },
			map[string]string{"ray-head": testRuntimeImage, "fluentbit": "fluent/fluent-bit:1.9.6", AutoscalerContainerName: testRuntimeImage},
			"ray-head=rayproject/ray:2.52.0,autoscaler=rayproject/ray:2.52.0"},
		{"worker", func(o PodOptions) *corev1.Pod { return WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], o) },
			map[string]string{"ray-worker": testRuntimeImage},
			"ray-worker=rayproject/ray:2.52.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			as := tt.build(PodOptions{})
			got := tt.build(PodOptions{RuntimeImage: testRuntimeImage})
			if len(got.Spec.Containers) != len(tt.want) {
				t.Fatalf("containers %v, want %v", got.Spec.Containers, tt.want)
			}
			for i := range got.Spec.Containers {
				ct := &got.Spec.Containers[i]
				if want := tt.want[ct.Name]; ct.Image != want {
					t.Errorf("container %s image %q, want %q", ct.Name, ct.Image, want)
				}
				// Apart from the image, the container is what it is without the substitution.
				ct.Image = as.Spec.Containers[i].Image
			}
			if v := got.Annotations[rayv1.RuntimeImageReplacesAnnotation]; v != tt.note {
				t.Errorf("annotation %s = %q, want %q", rayv1.RuntimeImageReplacesAnnotation, v, tt.note)
			}
			if got := strings.Join(ReplacedImages(got), ","); got != tt.note {
				t.Errorf("ReplacedImages = %q, want %q", got, tt.note)
			}
			delete(got.Annotations, rayv1.RuntimeImageReplacesAnnotation)
			if len(got.Annotations) == 0 {
				got.Annotations = as.Annotations
			}
			if !reflect.DeepEqual(got, as) {
				t.Errorf("the substitution changed more than the images:\n got %+v\nwant %+v", got, as)
			}

			ray := got.Spec.Containers[0]
			if ray.ImagePullPolicy != corev1.PullAlways ||
				!ray.Resources.Requests.Cpu().Equal(limits("cpu", "1")["cpu"]) ||
				!ray.Resources.Limits.Memory().Equal(limits("memory", "5Gi")["memory"]) ||
				ray.Resources.Limits["nvidia.com/gpu"] != limits("nvidia.com/gpu", "1")["nvidia.com/gpu"] {
				t.Errorf("pull policy or resources not the user's: %v %+v", ray.ImagePullPolicy, ray.Resources)
			}
			if e, ok := findEnv(t, ray.Env, "MY_SETTING"); !ok || e.Value != "42" || len(ray.EnvFrom) != 1 {
				t.Errorf("env not the user's: %v %v", ray.Env, ray.EnvFrom)
			}
			if !hasMount(ray.VolumeMounts, "ray-logs", "/tmp/ray") || !hasVolume(got.Spec.Volumes, "ray-logs") {
				t.Errorf("volumes not the user's: %v %v", ray.VolumeMounts, got.Spec.Volumes)
			}
			if p, ok := findPort(ray.Ports, "my-port"); !ok || p.ContainerPort != 9999 {
				t.Errorf("ports not the user's: %v", ray.Ports)
			}
			if len(ray.Args) != 1 || !strings.HasPrefix(ray.Args[0], "ulimit -n 65536 && exec ") {
				t.Errorf("the user's command does not run first: %q %q", ray.Command, ray.Args)
			}
		})
	}
}

func hasMount(ms []corev1.VolumeMount, name, path string) bool {
	for _, m := range ms {
		if m.Name == name && m.MountPath == path {
			return true
		}
	}
	return false
}

func hasVolume(vs []corev1.Volume, name string) bool {
	for _, v := range vs {
		if v.Name == name {
			return true
		}
	}
	return false
}

// TestRuntimeImageChoices: what each container of the head and a worker
// runs for the images a user may write.
func TestRuntimeImageChoices(t *testing.T) {
	images := func(p *corev1.Pod) map[string]string {
		out := map[string]string{}
		for _, ct := range p.Spec.Containers {
			out[ct.Name] = ct.Image
		}
		return out
	}
	tests := []struct {
		name       string
		mutate     func(c *rayv1.RayCluster)
		head, work map[string]string
		// the pods' goray.dev/runtime-image-replaces
		headNote, workNote string
	}{
		{"opt-out keeps Ray's images", func(c *rayv1.RayCluster) {
			c.Annotations = map[string]string{rayv1.KeepRayImageAnnotation: "true"}
		}, map[string]string{"ray-head": "rayproject/ray:2.52.0", "fluentbit": "fluent/fluent-bit:1.9.6", "autoscaler": "rayproject/ray:2.52.0"},
			map[string]string{"ray-worker": "rayproject/ray:2.52.0"}, "", ""},
		{"the user's own goray image is kept", func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Image = "registry.example.com/goray:mine"
			c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Image = "registry.example.com/goray:mine"
		}, map[string]string{"ray-head": "registry.example.com/goray:mine", "fluentbit": "fluent/fluent-bit:1.9.6", "autoscaler": "registry.example.com/goray:mine"},
			map[string]string{"ray-worker": "registry.example.com/goray:mine"}, "", ""},
		{"the autoscaler's own Ray image is replaced", func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Image = "registry.example.com/goray:mine"
			c.Spec.AutoscalerOptions = &rayv1.AutoscalerOptions{Image: ptr.To("rayproject/ray:2.52.0")}
		}, map[string]string{"ray-head": "registry.example.com/goray:mine", "fluentbit": "fluent/fluent-bit:1.9.6", "autoscaler": testRuntimeImage},
			map[string]string{"ray-worker": testRuntimeImage}, "autoscaler=rayproject/ray:2.52.0", "ray-worker=rayproject/ray:2.52.0"},
		{"the autoscaler's own image of the user's is kept", func(c *rayv1.RayCluster) {
			c.Spec.AutoscalerOptions = &rayv1.AutoscalerOptions{Image: ptr.To("registry.example.com/goray:autoscaler")}
		}, map[string]string{"ray-head": testRuntimeImage, "fluentbit": "fluent/fluent-bit:1.9.6", "autoscaler": "registry.example.com/goray:autoscaler"},
			map[string]string{"ray-worker": testRuntimeImage}, "ray-head=rayproject/ray:2.52.0", "ray-worker=rayproject/ray:2.52.0"},
		{"a sidecar in Ray's image is the user's", func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.Template.Spec.Containers[1].Image = "rayproject/ray:2.52.0"
		}, map[string]string{"ray-head": testRuntimeImage, "fluentbit": "rayproject/ray:2.52.0", "autoscaler": testRuntimeImage},
			map[string]string{"ray-worker": testRuntimeImage}, "ray-head=rayproject/ray:2.52.0,autoscaler=rayproject/ray:2.52.0", "ray-worker=rayproject/ray:2.52.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := kubeRayCluster()
			tt.mutate(c)
			opts := PodOptions{RuntimeImage: testRuntimeImage}
			head, worker := HeadPod(c, opts), WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], opts)
			if got := images(head); !reflect.DeepEqual(got, tt.head) {
				t.Errorf("head images %v, want %v", got, tt.head)
			}
			if got := images(worker); !reflect.DeepEqual(got, tt.work) {
				t.Errorf("worker images %v, want %v", got, tt.work)
			}
			if got := head.Annotations[rayv1.RuntimeImageReplacesAnnotation]; got != tt.headNote {
				t.Errorf("head annotation %q, want %q", got, tt.headNote)
			}
			if got := worker.Annotations[rayv1.RuntimeImageReplacesAnnotation]; got != tt.workNote {
				t.Errorf("worker annotation %q, want %q", got, tt.workNote)
			}
		})
	}
}

// TestRuntimeImageRayJob: a RayJob's annotations reach its cluster (so the
// opt-out does too), the SidecarMode submitter in the head and the
// K8sJobMode submitter Job run the runtime image in place of Ray's, and a
// submitter with a command of the user's keeps its image.
func TestRuntimeImageRayJob(t *testing.T) {
	job := testRayJob()
	job.Spec.RayClusterSpec = ptr.To(kubeRayCluster().Spec)

	job.Spec.SubmissionMode = rayv1.SidecarMode
	head := HeadPod(RayJobCluster(job, "train-abcde", rjDashboard), PodOptions{RuntimeImage: testRuntimeImage})
	if got := container(t, head, SubmitterContainerName).Image; got != testRuntimeImage {
		t.Errorf("sidecar submitter image %q, want %q", got, testRuntimeImage)
	}
	job.Annotations[rayv1.KeepRayImageAnnotation] = "true"
	cluster := RayJobCluster(job, "train-abcde", rjDashboard)
	if !KeepsRayImages(cluster.Annotations) {
		t.Fatalf("the RayJob's opt-out did not reach its cluster: %v", cluster.Annotations)
	}
	head = HeadPod(cluster, PodOptions{RuntimeImage: testRuntimeImage})
	for _, ct := range head.Spec.Containers {
		if ct.Image == testRuntimeImage {
			t.Errorf("opted out, container %s runs %s", ct.Name, ct.Image)
		}
	}

	delete(job.Annotations, rayv1.KeepRayImageAnnotation)
	job.Spec.SubmissionMode = rayv1.K8sJobMode
	cluster = RayJobCluster(job, "train-abcde", "")
	sj := SubmitterJob(job, cluster, rjDashboard)
	UseRuntimeImageInJob(cluster, sj, testRuntimeImage)
	if got := sj.Spec.Template.Spec.Containers[0].Image; got != testRuntimeImage {
		t.Errorf("submitter Job image %q, want %q", got, testRuntimeImage)
	}
	if got := sj.Spec.Template.Annotations[rayv1.RuntimeImageReplacesAnnotation]; got != SubmitterContainerName+"=rayproject/ray:2.52.0" {
		t.Errorf("submitter Job annotation %q", got)
	}

	// KubeRay's light-weight submitter: the user's `ray job submit` needs Ray's image.
	job.Spec.SubmitterPodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "my-submitter", Image: "rayproject/ray:2.52.0", Command: []string{"ray", "job", "submit", "--", "python", "x.py"}}}}}
	sj = SubmitterJob(job, cluster, rjDashboard)
	UseRuntimeImageInJob(cluster, sj, testRuntimeImage)
	if got := sj.Spec.Template.Spec.Containers[0].Image; got != "rayproject/ray:2.52.0" {
		t.Errorf("a submitter with its own command runs %q, want the user's rayproject/ray:2.52.0", got)
	}
	// Without a command of its own it gets goray's, and so goray's image.
	job.Spec.SubmitterPodTemplate.Spec.Containers[0].Command = nil
	sj = SubmitterJob(job, cluster, rjDashboard)
	UseRuntimeImageInJob(cluster, sj, testRuntimeImage)
	if got := sj.Spec.Template.Spec.Containers[0].Image; got != testRuntimeImage {
		t.Errorf("a submitter template without a command runs %q, want %q", got, testRuntimeImage)
	}
}

// TestRuntimeImageRedisCleanup: the Redis cleanup Job runs `goray
// gcs-cleanup`, so it runs the runtime image in place of the head's Ray image.
func TestRuntimeImageRedisCleanup(t *testing.T) {
	c := kubeRayCluster()
	c.Spec.GcsFaultToleranceOptions = &rayv1.GcsFaultToleranceOptions{RedisAddress: "redis:6379"}
	j := RedisCleanupJob(c)
	UseRuntimeImageInJob(c, j, testRuntimeImage)
	if got := j.Spec.Template.Spec.Containers[0].Image; got != testRuntimeImage {
		t.Errorf("cleanup image %q, want %q", got, testRuntimeImage)
	}
	c.Annotations = map[string]string{rayv1.KeepRayImageAnnotation: "true"}
	j = RedisCleanupJob(c)
	UseRuntimeImageInJob(c, j, testRuntimeImage)
	if got := j.Spec.Template.Spec.Containers[0].Image; got != "rayproject/ray:2.52.0" {
		t.Errorf("opted out, cleanup image %q", got)
	}
}
