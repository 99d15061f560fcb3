package desired

import (
	"fmt"
	"maps"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// SubmitterContainerName is the container that submits a RayJob's entrypoint.
const SubmitterContainerName = "ray-job-submitter"

// RayJobCluster is the RayCluster a RayJob creates under the given name.
// In SidecarMode the head pod carries the submitter and is never restarted
// (a restarted head would submit the job again).
func RayJobCluster(job *rayv1.RayJob, name, dashboardAddress string) *rayv1.RayCluster {
	spec := job.Spec.RayClusterSpec.DeepCopy()
	labels := maps.Clone(job.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[rayv1.RayOriginatedFromCRNameKey] = job.Name
	labels[rayv1.RayOriginatedFromCRDKey] = "RayJob"
	c := &rayv1.RayCluster{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       job.Namespace,
			Labels:          labels,
			Annotations:     maps.Clone(job.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, rayv1.GroupVersion.WithKind("RayJob"))},
		},
		Spec: *spec,
	}
	if job.Spec.SubmissionMode == rayv1.SidecarMode {
		head := &c.Spec.HeadGroupSpec.Template.Spec
		image := ""
		if len(head.Containers) > 0 {
			image = head.Containers[0].Image
		}
		head.Containers = append(head.Containers, SubmitterContainer(job, dashboardAddress, image))
		head.RestartPolicy = corev1.RestartPolicyNever
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[rayv1.DisableProvisionedHeadRestartKey] = "true"
	}
	return c
}

// SubmitterArgs is the command that submits the job unless the dashboard
// already has it (so a restarted submitter never submits twice), then
// follows its logs and exits with its outcome.
func SubmitterArgs(job *rayv1.RayJob, jobID, dashboardAddress string) []string {
	args := []string{RuntimeBinary, "job", "submit", "--address=http://" + dashboardAddress, "--submission-id=" + jobID, "--if-absent"}
	if job.Spec.RuntimeEnvYAML != "" {
		args = append(args, "--runtime-env-yaml="+job.Spec.RuntimeEnvYAML)
	}
	if len(job.Spec.Metadata) > 0 {
		args = append(args, "--metadata-json="+jsonStringMap(job.Spec.Metadata))
	}
	if job.Spec.EntrypointNumCpus > 0 {
		args = append(args, "--entrypoint-num-cpus="+strconv.FormatFloat(float64(job.Spec.EntrypointNumCpus), 'f', -1, 32))
	}
	if job.Spec.EntrypointNumGpus > 0 {
		args = append(args, "--entrypoint-num-gpus="+strconv.FormatFloat(float64(job.Spec.EntrypointNumGpus), 'f', -1, 32))
	}
	if job.Spec.EntrypointResources != "" {
		args = append(args, "--entrypoint-resources="+job.Spec.EntrypointResources)
	}
	return append(args, "--", job.Spec.Entrypoint)
}

// SubmitterContainer runs SubmitterArgs with the given image.
func SubmitterContainer(job *rayv1.RayJob, dashboardAddress, image string) corev1.Container {
	jobID := job.Status.JobId
	if jobID == "" {
		jobID = job.Spec.JobId
	}
	return corev1.Container{
		Name:            SubmitterContainerName,
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         SubmitterArgs(job, jobID, dashboardAddress),
		Env: []corev1.EnvVar{
			{Name: "RAY_DASHBOARD_ADDRESS", Value: dashboardAddress},
			{Name: "RAY_JOB_SUBMISSION_ID", Value: jobID},
		},
	}
}

// SubmitterJob is the batch Job of K8sJobMode, named after the RayJob. The
// submitterPodTemplate, when given, provides the pod; its first container
// gets the submit command unless it has its own. The submitter container
// gets the cluster's auth token (unless it sets RAY_AUTH_TOKEN itself) and
// runs hardened, as the cluster's containers do.
func SubmitterJob(job *rayv1.RayJob, cluster *rayv1.RayCluster, dashboardAddress string) *batchv1.Job {
	var tmpl corev1.PodTemplateSpec
	image := ""
	if cs := cluster.Spec.HeadGroupSpec.Template.Spec.Containers; len(cs) > 0 {
		image = cs[0].Image
	}
	submitter := SubmitterContainer(job, dashboardAddress, image)
	if job.Spec.SubmitterPodTemplate != nil {
		tmpl = *job.Spec.SubmitterPodTemplate.DeepCopy()
		if len(tmpl.Spec.Containers) == 0 {
			tmpl.Spec.Containers = []corev1.Container{submitter}
		} else {
			ct := &tmpl.Spec.Containers[0]
			if len(ct.Command) == 0 && len(ct.Args) == 0 {
				ct.Command = submitter.Command
			}
			if ct.Image == "" {
				ct.Image = image
			}
			ct.Env = mergeEnv(ct.Env, submitter.Env)
		}
	} else {
		tmpl.Spec.Containers = []corev1.Container{submitter}
		tmpl.Spec.Containers[0].Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("100m"), corev1.ResourceMemory: mustQuantity("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: mustQuantity("1"), corev1.ResourceMemory: mustQuantity("256Mi")},
		}
	}
	if tmpl.Spec.RestartPolicy == "" || tmpl.Spec.RestartPolicy == corev1.RestartPolicyAlways {
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
	}
	// The submitter talks to the job API with the cluster's token.
	AddAuthEnv(cluster, &tmpl.Spec.Containers[0])
	hardenContainers(&tmpl.Spec, func(i int, _ *corev1.Container) bool { return i == 0 })
	// The submitter reaches the job API over HTTPS with the cluster's certificate.
	AddTLS(cluster, &tmpl.Spec, func(i int, _ *corev1.Container) bool { return i == 0 })
	labels := map[string]string{
		rayv1.KubernetesCreatedByLabelKey:  rayv1.ComponentName,
		rayv1.KubernetesApplicationNameKey: rayv1.ApplicationName,
		rayv1.RayOriginatedFromCRNameKey:   job.Name,
		rayv1.RayOriginatedFromCRDKey:      "RayJob",
	}
	tmpl.Labels = mergeLabels(tmpl.Labels, labels)
	backoff := int32(2)
	if job.Spec.SubmitterConfig != nil && job.Spec.SubmitterConfig.BackoffLimit != nil {
		backoff = *job.Spec.SubmitterConfig.BackoffLimit
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            job.Name,
			Namespace:       job.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, rayv1.GroupVersion.WithKind("RayJob"))},
		},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To(backoff), Template: tmpl},
	}
}

// RayJobClusterName is <rayjob>-<suffix>, the name of a RayJob's cluster.
func RayJobClusterName(job *rayv1.RayJob, suffix string) string {
	return fmt.Sprintf("%s-%s", job.Name, suffix)
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
