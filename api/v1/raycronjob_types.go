package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RayCronJobSpec creates a RayJob from jobTemplate on a cron schedule.
type RayCronJobSpec struct {
	// JobTemplate is the spec of every RayJob created.
	JobTemplate RayJobSpec `json:"jobTemplate"`
	// Schedule is a standard five-field cron expression (or @hourly etc.).
	// +kubebuilder:validation:MinLength=1
	Schedule string `json:"schedule"`
	// TimeZone is an IANA time zone name for the schedule (default: the operator's).
	// +optional
	TimeZone *string `json:"timeZone,omitempty"`
	// Suspend stops creating new RayJobs.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// ConcurrencyPolicy is Allow (default), Forbid or Replace, as for a CronJob.
	// +kubebuilder:validation:Enum=Allow;Forbid;Replace
	// +optional
	ConcurrencyPolicy string `json:"concurrencyPolicy,omitempty"`
	// SuccessfulJobsHistoryLimit is how many finished successful RayJobs to keep (default 3).
	// +kubebuilder:validation:Minimum=0
	// +optional
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`
	// FailedJobsHistoryLimit is how many failed RayJobs to keep (default 1).
	// +kubebuilder:validation:Minimum=0
	// +optional
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`
}

// RayCronJobStatus is the observed state of a RayCronJob.
type RayCronJobStatus struct {
	// LastScheduleTime is when a RayJob was last created.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`
	// Active lists the RayJobs that have not finished.
	// +optional
	Active []string `json:"active,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// RayCronJob creates RayJobs on a schedule (KubeRay's alpha kind).
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="schedule",type=string,JSONPath=".spec.schedule"
// +kubebuilder:printcolumn:name="suspend",type=boolean,JSONPath=".spec.suspend"
// +kubebuilder:printcolumn:name="last schedule",type=date,JSONPath=".status.lastScheduleTime"
// +kubebuilder:printcolumn:name="age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 36",message="metadata.name: a RayCronJob name must be at most 36 characters so that the names of its RayJobs stay legal"
// +genclient
type RayCronJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec RayCronJobSpec `json:"spec,omitempty"`
	// +optional
	Status RayCronJobStatus `json:"status,omitempty"`
}

// RayCronJobList is a list of RayCronJobs.
//
// +kubebuilder:object:root=true
type RayCronJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RayCronJob `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RayCronJob{}, &RayCronJobList{})
}
