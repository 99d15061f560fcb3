package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// JobStatus mirrors the status of a job in the runtime's job API.
type JobStatus string

const (
	JobStatusNew       JobStatus = ""
	JobStatusPending   JobStatus = "PENDING"
	JobStatusRunning   JobStatus = "RUNNING"
	JobStatusStopped   JobStatus = "STOPPED"
	JobStatusSucceeded JobStatus = "SUCCEEDED"
	JobStatusFailed    JobStatus = "FAILED"
)

// IsJobTerminal reports whether a job in status s can no longer change.
func IsJobTerminal(s JobStatus) bool {
	return s == JobStatusStopped || s == JobStatusSucceeded || s == JobStatusFailed
}

// JobDeploymentStatus is the state of the RayJob controller's state machine.
type JobDeploymentStatus string

const (
	JobDeploymentStatusNew              JobDeploymentStatus = ""
	JobDeploymentStatusInitializing     JobDeploymentStatus = "Initializing"
	JobDeploymentStatusRunning          JobDeploymentStatus = "Running"
	JobDeploymentStatusComplete         JobDeploymentStatus = "Complete"
	JobDeploymentStatusFailed           JobDeploymentStatus = "Failed"
	JobDeploymentStatusValidationFailed JobDeploymentStatus = "ValidationFailed"
	JobDeploymentStatusSuspending       JobDeploymentStatus = "Suspending"
	JobDeploymentStatusSuspended        JobDeploymentStatus = "Suspended"
	JobDeploymentStatusRetrying         JobDeploymentStatus = "Retrying"
	JobDeploymentStatusWaiting          JobDeploymentStatus = "Waiting"
)

// JobFailedReason says why a RayJob ended Failed.
type JobFailedReason string

const (
	SubmissionFailed                                 JobFailedReason = "SubmissionFailed"
	DeadlineExceeded                                 JobFailedReason = "DeadlineExceeded"
	PreRunningDeadlineExceeded                       JobFailedReason = "PreRunningDeadlineExceeded"
	AppFailed                                        JobFailedReason = "AppFailed"
	JobDeploymentStatusTransitionGracePeriodExceeded JobFailedReason = "JobDeploymentStatusTransitionGracePeriodExceeded"
	JobStatusCheckTimeoutExceeded                    JobFailedReason = "JobStatusCheckTimeoutExceeded"
	ValidationFailed                                 JobFailedReason = "ValidationFailed"
)

// JobSubmissionMode is how the entrypoint reaches the cluster.
// +kubebuilder:validation:Enum=K8sJobMode;HTTPMode;InteractiveMode;SidecarMode
type JobSubmissionMode string

const (
	// K8sJobMode submits from a batch/v1 Job running `goray job submit`.
	K8sJobMode JobSubmissionMode = "K8sJobMode"
	// HTTPMode has the operator POST the job to the dashboard.
	HTTPMode JobSubmissionMode = "HTTPMode"
	// InteractiveMode waits for the user to set spec.jobId.
	InteractiveMode JobSubmissionMode = "InteractiveMode"
	// SidecarMode submits from a container in the head pod.
	SidecarMode JobSubmissionMode = "SidecarMode"
)

// DeletionPolicyType is what a deletion rule deletes.
// +kubebuilder:validation:Enum=DeleteCluster;DeleteWorkers;DeleteSelf;DeleteNone
type DeletionPolicyType string

const (
	DeleteCluster DeletionPolicyType = "DeleteCluster"
	DeleteWorkers DeletionPolicyType = "DeleteWorkers"
	DeleteSelf    DeletionPolicyType = "DeleteSelf"
	DeleteNone    DeletionPolicyType = "DeleteNone"
)

// DeletionStrategy says what is deleted when the job ends. Use either the
// legacy onSuccess/onFailure pair or deletionRules.
// +kubebuilder:validation:XValidation:rule="!(has(self.deletionRules) && (has(self.onSuccess) || has(self.onFailure)))",message="spec.deletionStrategy: use either deletionRules or the legacy onSuccess/onFailure, not both"
// +kubebuilder:validation:XValidation:rule="has(self.onSuccess) == has(self.onFailure)",message="spec.deletionStrategy: the legacy form needs both onSuccess and onFailure"
// +kubebuilder:validation:XValidation:rule="has(self.deletionRules) || has(self.onSuccess)",message="spec.deletionStrategy needs deletionRules (or the legacy onSuccess and onFailure)"
type DeletionStrategy struct {
	// OnSuccess is the legacy policy applied when the job succeeds.
	// +optional
	OnSuccess *DeletionPolicy `json:"onSuccess,omitempty"`
	// OnFailure is the legacy policy applied when the job fails.
	// +optional
	OnFailure *DeletionPolicy `json:"onFailure,omitempty"`
	// DeletionRules are applied in order of their TTL once their condition holds.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	DeletionRules []DeletionRule `json:"deletionRules,omitempty"`
}

// DeletionPolicy is a legacy deletion policy.
type DeletionPolicy struct {
	// +optional
	Policy *DeletionPolicyType `json:"policy,omitempty"`
}

// DeletionRule deletes something once a condition has held for ttlSeconds.
type DeletionRule struct {
	Policy    DeletionPolicyType `json:"policy"`
	Condition DeletionCondition  `json:"condition"`
}

// DeletionCondition matches a final job status or deployment status.
// +kubebuilder:validation:XValidation:rule="has(self.jobStatus) != has(self.jobDeploymentStatus)",message="spec.deletionStrategy.deletionRules[].condition: set exactly one of jobStatus or jobDeploymentStatus"
type DeletionCondition struct {
	// +kubebuilder:validation:Enum=SUCCEEDED;FAILED
	// +optional
	JobStatus *JobStatus `json:"jobStatus,omitempty"`
	// +kubebuilder:validation:Enum=Failed
	// +optional
	JobDeploymentStatus *JobDeploymentStatus `json:"jobDeploymentStatus,omitempty"`
	// TTLSeconds is how long after the condition holds the policy applies.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default:=0
	// +optional
	TTLSeconds int32 `json:"ttlSeconds,omitempty"`
}

// SubmitterConfig configures the submitter Job of K8sJobMode.
type SubmitterConfig struct {
	// BackoffLimit of the submitter batch Job (default 2).
	// +kubebuilder:validation:Minimum=0
	// +optional
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
}

// RayJobSpec is the desired state of a RayJob.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.rayClusterSpec) && has(self.clusterSelector) && size(self.clusterSelector) > 0)",message="spec.clusterSelector and spec.rayClusterSpec are mutually exclusive: either create a cluster or select an existing one"
// +kubebuilder:validation:XValidation:rule="has(self.rayClusterSpec) || (has(self.clusterSelector) && size(self.clusterSelector) > 0)",message="spec.rayClusterSpec is required unless spec.clusterSelector names an existing cluster"
// +kubebuilder:validation:XValidation:rule="!has(self.clusterSelector) || size(self.clusterSelector) == 0 || !has(self.submissionMode) || self.submissionMode != 'SidecarMode'",message="spec.submissionMode: SidecarMode cannot be used with spec.clusterSelector; use K8sJobMode or HTTPMode"
// +kubebuilder:validation:XValidation:rule="!has(self.clusterSelector) || size(self.clusterSelector) == 0 || !has(self.suspend) || !self.suspend",message="spec.suspend cannot be used with spec.clusterSelector: the RayJob does not own the selected cluster"
// +kubebuilder:validation:XValidation:rule="!has(self.clusterSelector) || size(self.clusterSelector) == 0 || !has(self.backoffLimit) || self.backoffLimit == 0",message="spec.backoffLimit must be 0 with spec.clusterSelector: retries need a new cluster each time"
// +kubebuilder:validation:XValidation:rule="!has(self.suspend) || !self.suspend || (has(self.shutdownAfterJobFinishes) && self.shutdownAfterJobFinishes)",message="spec.suspend requires spec.shutdownAfterJobFinishes: true"
// +kubebuilder:validation:XValidation:rule="!has(self.submitterPodTemplate) || !has(self.submissionMode) || self.submissionMode == 'K8sJobMode'",message="spec.submitterPodTemplate is only used with submissionMode K8sJobMode"
// +kubebuilder:validation:XValidation:rule="!has(self.submitterConfig) || !has(self.submissionMode) || self.submissionMode == 'K8sJobMode'",message="spec.submitterConfig is only used with submissionMode K8sJobMode"
// +kubebuilder:validation:XValidation:rule="(has(self.submissionMode) && self.submissionMode == 'InteractiveMode') || (has(self.entrypoint) && size(self.entrypoint) > 0) || (has(self.submitterPodTemplate) && has(self.submitterPodTemplate.spec) && size(self.submitterPodTemplate.spec.containers) > 0 && ((has(self.submitterPodTemplate.spec.containers[0].command) && size(self.submitterPodTemplate.spec.containers[0].command) > 0) || (has(self.submitterPodTemplate.spec.containers[0].args) && size(self.submitterPodTemplate.spec.containers[0].args) > 0)))",message="spec.entrypoint is required unless submissionMode is InteractiveMode or the first container of spec.submitterPodTemplate has its own command or args"
// +kubebuilder:validation:XValidation:rule="!(has(self.deletionStrategy) && has(self.deletionStrategy.deletionRules) && has(self.shutdownAfterJobFinishes) && self.shutdownAfterJobFinishes)",message="spec.deletionStrategy.deletionRules cannot be combined with spec.shutdownAfterJobFinishes; express the cleanup as a DeleteCluster rule"
// +kubebuilder:validation:XValidation:rule="!has(self.rayClusterSpec) || !has(self.rayClusterSpec.upgradeStrategy)",message="spec.rayClusterSpec.upgradeStrategy is only allowed on a standalone RayCluster"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.managedBy) == has(self.managedBy)",message="spec.managedBy is immutable: it cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="!has(self.ttlSecondsAfterFinished) || self.ttlSecondsAfterFinished == 0 || (has(self.shutdownAfterJobFinishes) && self.shutdownAfterJobFinishes)",message="spec.ttlSecondsAfterFinished only takes effect with spec.shutdownAfterJobFinishes: true"
type RayJobSpec struct {
	// ActiveDeadlineSeconds bounds the whole run; past it the RayJob fails with DeadlineExceeded.
	// +kubebuilder:validation:Minimum=1
	// +optional
	ActiveDeadlineSeconds *int32 `json:"activeDeadlineSeconds,omitempty"`
	// PreRunningDeadlineSeconds bounds the time until the job is Running; past it the RayJob fails with PreRunningDeadlineExceeded.
	// +kubebuilder:validation:Minimum=1
	// +optional
	PreRunningDeadlineSeconds *int32 `json:"preRunningDeadlineSeconds,omitempty"`
	// BackoffLimit is the number of retries, each on a new cluster.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default:=0
	// +optional
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
	// RayClusterSpec is the cluster created for the job as <rayjob>-<5 random>.
	// +optional
	RayClusterSpec *RayClusterSpec `json:"rayClusterSpec,omitempty"`
	// SubmitterPodTemplate overrides the submitter pod (K8sJobMode).
	// +optional
	SubmitterPodTemplate *corev1.PodTemplateSpec `json:"submitterPodTemplate,omitempty"`
	// Metadata is passed to the job API with the submission.
	// +optional
	Metadata map[string]string `json:"metadata,omitempty"`
	// ClusterSelector selects an existing cluster by the ray.io/cluster label.
	// +optional
	ClusterSelector map[string]string `json:"clusterSelector,omitempty"`
	// SubmitterConfig configures the submitter Job (K8sJobMode).
	// +optional
	SubmitterConfig *SubmitterConfig `json:"submitterConfig,omitempty"`
	// ManagedBy names the controller that reconciles this object. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.managedBy is immutable"
	// +kubebuilder:validation:XValidation:rule="self in ['ray.io/kuberay-operator', 'kueue.x-k8s.io/multikueue']",message="spec.managedBy must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'"
	// +optional
	ManagedBy *string `json:"managedBy,omitempty"`
	// DeletionStrategy says what is deleted when the job ends.
	// +optional
	DeletionStrategy *DeletionStrategy `json:"deletionStrategy,omitempty"`
	// Entrypoint is the shell command the job runs.
	// +optional
	Entrypoint string `json:"entrypoint,omitempty"`
	// RuntimeEnvYAML is the runtime_env of the job as YAML.
	// +optional
	RuntimeEnvYAML string `json:"runtimeEnvYAML,omitempty"`
	// JobId is the submission id; generated as <rayjob>-<5 random> when empty.
	// +optional
	JobId string `json:"jobId,omitempty"`
	// SubmissionMode is K8sJobMode (default), HTTPMode, InteractiveMode or SidecarMode.
	// +kubebuilder:default:=K8sJobMode
	// +optional
	SubmissionMode JobSubmissionMode `json:"submissionMode,omitempty"`
	// EntrypointResources is a JSON object of custom resources reserved for the entrypoint.
	// +optional
	EntrypointResources string `json:"entrypointResources,omitempty"`
	// EntrypointNumCpus reserves CPUs for the entrypoint.
	// +kubebuilder:validation:Minimum=0
	// +optional
	EntrypointNumCpus float32 `json:"entrypointNumCpus,omitempty"`
	// EntrypointNumGpus reserves GPUs for the entrypoint.
	// +kubebuilder:validation:Minimum=0
	// +optional
	EntrypointNumGpus float32 `json:"entrypointNumGpus,omitempty"`
	// TTLSecondsAfterFinished delays the cleanup of shutdownAfterJobFinishes.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default:=0
	// +optional
	TTLSecondsAfterFinished int32 `json:"ttlSecondsAfterFinished,omitempty"`
	// ShutdownAfterJobFinishes deletes the cluster when the job ends.
	// +optional
	ShutdownAfterJobFinishes bool `json:"shutdownAfterJobFinishes,omitempty"`
	// Suspend deletes the cluster and submitter (for Kueue).
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// RayJobStatusInfo holds times reported by the job API.
type RayJobStatusInfo struct {
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
}

// RayJobStatus is the observed state of a RayJob.
type RayJobStatus struct {
	// +optional
	RayJobStatusInfo RayJobStatusInfo `json:"rayJobInfo,omitempty"`
	// +optional
	JobId string `json:"jobId,omitempty"`
	// +optional
	RayClusterName string `json:"rayClusterName,omitempty"`
	// +optional
	DashboardURL string `json:"dashboardURL,omitempty"`
	// +optional
	JobStatus JobStatus `json:"jobStatus,omitempty"`
	// +optional
	JobDeploymentStatus JobDeploymentStatus `json:"jobDeploymentStatus,omitempty"`
	// +optional
	Reason JobFailedReason `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// StartTime is when the RayJob started (the cluster was requested).
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// EndTime is when the job reached a terminal status.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`
	// Succeeded counts successful attempts.
	// +optional
	Succeeded *int32 `json:"succeeded,omitempty"`
	// Failed counts failed attempts.
	// +optional
	Failed *int32 `json:"failed,omitempty"`
	// RayClusterStatus is a copy of the cluster's status.
	// +optional
	RayClusterStatus RayClusterStatus `json:"rayClusterStatus,omitempty"`
	// +optional
	JobStatusCheckFailureStartTime *metav1.Time `json:"jobStatusCheckFailureStartTime,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// RayJob runs an entrypoint on a RayCluster it creates or selects.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="job status",type=string,JSONPath=".status.jobStatus"
// +kubebuilder:printcolumn:name="deployment status",type=string,JSONPath=".status.jobDeploymentStatus"
// +kubebuilder:printcolumn:name="ray cluster name",type="string",JSONPath=".status.rayClusterName"
// +kubebuilder:printcolumn:name="start time",type=string,JSONPath=".status.startTime"
// +kubebuilder:printcolumn:name="end time",type=string,JSONPath=".status.endTime"
// +kubebuilder:printcolumn:name="age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="reason",type=string,JSONPath=".status.reason",priority=1
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 47",message="metadata.name: a RayJob name must be at most 47 characters so that the names of its cluster and Services stay legal"
// +genclient
type RayJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec RayJobSpec `json:"spec,omitempty"`
	// +optional
	Status RayJobStatus `json:"status,omitempty"`
}

// RayJobList is a list of RayJobs.
//
// +kubebuilder:object:root=true
type RayJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RayJob `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RayJob{}, &RayJobList{})
}
