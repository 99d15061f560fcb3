package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RayServiceUpgradeType is how a RayService rolls out a new cluster spec.
// +kubebuilder:validation:Enum=NewCluster;NewClusterWithIncrementalUpgrade;None
type RayServiceUpgradeType string

const (
	// NewCluster brings up a pending cluster and switches traffic once it serves.
	NewCluster RayServiceUpgradeType = "NewCluster"
	// NewClusterWithIncrementalUpgrade shifts traffic gradually through the Gateway API.
	NewClusterWithIncrementalUpgrade RayServiceUpgradeType = "NewClusterWithIncrementalUpgrade"
	// RayServiceUpgradeNone never creates a new cluster for a spec change.
	RayServiceUpgradeNone RayServiceUpgradeType = "None"
)

// ClusterUpgradeOptions tunes the incremental upgrade.
type ClusterUpgradeOptions struct {
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default:=100
	// +optional
	MaxSurgePercent *int32 `json:"maxSurgePercent,omitempty"`
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	StepSizePercent *int32 `json:"stepSizePercent"`
	// +kubebuilder:validation:Minimum=1
	IntervalSeconds  *int32 `json:"intervalSeconds"`
	GatewayClassName string `json:"gatewayClassName"`
}

// RayServiceUpgradeStrategy selects how cluster spec changes roll out.
// +kubebuilder:validation:XValidation:rule="!has(self.clusterUpgradeOptions) || (has(self.type) && self.type == 'NewClusterWithIncrementalUpgrade')",message="spec.upgradeStrategy.clusterUpgradeOptions is only valid with type NewClusterWithIncrementalUpgrade"
type RayServiceUpgradeStrategy struct {
	// Type is NewCluster (the default), NewClusterWithIncrementalUpgrade or None.
	// +optional
	Type *RayServiceUpgradeType `json:"type,omitempty"`
	// +optional
	ClusterUpgradeOptions *ClusterUpgradeOptions `json:"clusterUpgradeOptions,omitempty"`
}

// RayServiceSpec is the desired state of a RayService.
//
// +kubebuilder:validation:XValidation:rule="!has(self.rayClusterConfig.upgradeStrategy)",message="spec.rayClusterConfig.upgradeStrategy is only allowed on a standalone RayCluster; use spec.upgradeStrategy"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.managedBy) == has(self.managedBy)",message="spec.managedBy is immutable: it cannot be added or removed after creation"
type RayServiceSpec struct {
	// RayClusterDeletionDelaySeconds is how long the old cluster lives after traffic moved (default 60).
	// +kubebuilder:validation:Minimum=0
	// +optional
	RayClusterDeletionDelaySeconds *int32 `json:"rayClusterDeletionDelaySeconds,omitempty"`
	// Deprecated: not used; see the ray.io/initializing-timeout annotation.
	// +optional
	ServiceUnhealthySecondThreshold *int32 `json:"serviceUnhealthySecondThreshold,omitempty"`
	// Deprecated: not used; see the ray.io/initializing-timeout annotation.
	// +optional
	DeploymentUnhealthySecondThreshold *int32 `json:"deploymentUnhealthySecondThreshold,omitempty"`
	// ServeService overrides the generated <rayservice>-serve-svc.
	// +optional
	ServeService *corev1.Service `json:"serveService,omitempty"`
	// UpgradeStrategy selects how cluster spec changes roll out.
	// +optional
	UpgradeStrategy *RayServiceUpgradeStrategy `json:"upgradeStrategy,omitempty"`
	// ServeConfigV2 is the Serve multi-application config as YAML.
	// +optional
	ServeConfigV2 string `json:"serveConfigV2,omitempty"`
	// RayClusterSpec is the spec of the serving cluster.
	RayClusterSpec RayClusterSpec `json:"rayClusterConfig"`
	// ExcludeHeadPodFromServeSvc keeps the head pod out of the serve Service.
	// +optional
	ExcludeHeadPodFromServeSvc bool `json:"excludeHeadPodFromServeSvc,omitempty"`
	// ManagedBy names the controller that reconciles this object. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.managedBy is immutable"
	// +kubebuilder:validation:XValidation:rule="self in ['ray.io/kuberay-operator', 'kueue.x-k8s.io/multikueue']",message="spec.managedBy must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'"
	// +optional
	ManagedBy *string `json:"managedBy,omitempty"`
	// Suspend deletes every resource the RayService owns.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ApplicationStatus is a Serve application's status (Ray's enum).
type ApplicationStatus string

const (
	ApplicationStatusNotStarted   = "NOT_STARTED"
	ApplicationStatusDeploying    = "DEPLOYING"
	ApplicationStatusRunning      = "RUNNING"
	ApplicationStatusDeployFailed = "DEPLOY_FAILED"
	ApplicationStatusDeleting     = "DELETING"
	ApplicationStatusUnhealthy    = "UNHEALTHY"
)

// Serve deployment statuses (Ray's enum).
const (
	DeploymentStatusUpdating  = "UPDATING"
	DeploymentStatusHealthy   = "HEALTHY"
	DeploymentStatusUnhealthy = "UNHEALTHY"
)

// AppStatus is the status of one Serve application.
type AppStatus struct {
	// +optional
	Deployments map[string]ServeDeploymentStatus `json:"serveDeploymentStatuses,omitempty"`
	// +optional
	Status string `json:"status,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// ServeDeploymentStatus is the status of one Serve deployment.
type ServeDeploymentStatus struct {
	// +optional
	Status string `json:"status,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// RayServiceStatus is the status of the active or the pending cluster of a RayService.
type RayServiceStatus struct {
	// +optional
	Applications map[string]AppStatus `json:"applicationStatuses,omitempty"`
	// +optional
	TargetCapacity *int32 `json:"targetCapacity,omitempty"`
	// +optional
	TrafficRoutedPercent *int32 `json:"trafficRoutedPercent,omitempty"`
	// +optional
	LastTrafficMigratedTime *metav1.Time `json:"lastTrafficMigratedTime,omitempty"`
	// +optional
	RayClusterName string `json:"rayClusterName,omitempty"`
	// +optional
	RayClusterStatus RayClusterStatus `json:"rayClusterStatus,omitempty"`
}

// ServiceStatus is the deprecated coarse status of a RayService.
type ServiceStatus string

const (
	// Running means the active cluster serves every application.
	Running ServiceStatus = "Running"
	// NotRunning is the empty status.
	NotRunning ServiceStatus = ""
)

// RayServiceStatuses is the observed state of a RayService.
type RayServiceStatuses struct {
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`
	// Deprecated: use conditions.
	// +optional
	ServiceStatus ServiceStatus `json:"serviceStatus,omitempty"`
	// Conditions: Ready, UpgradeInProgress, RollbackInProgress.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	ActiveServiceStatus RayServiceStatus `json:"activeServiceStatus,omitempty"`
	// +optional
	PendingServiceStatus RayServiceStatus `json:"pendingServiceStatus,omitempty"`
	// NumServeEndpoints is the number of pods behind the serve Service.
	// +optional
	NumServeEndpoints int32 `json:"numServeEndpoints,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// RayServiceConditionType names a RayService condition.
type RayServiceConditionType string

const (
	RayServiceReady      RayServiceConditionType = "Ready"
	UpgradeInProgress    RayServiceConditionType = "UpgradeInProgress"
	RollbackInProgress   RayServiceConditionType = "RollbackInProgress"
	RayServiceSuspending RayServiceConditionType = "Suspending"
	RayServiceSuspended  RayServiceConditionType = "Suspended"
)

// Condition reasons of a RayService.
const (
	RayServiceInitializing         = "Initializing"
	RayServiceInitializingTimeout  = "InitializingTimeout"
	ZeroServeEndpoints             = "ZeroServeEndpoints"
	NonZeroServeEndpoints          = "NonZeroServeEndpoints"
	BothActivePendingClustersExist = "BothActivePendingClustersExist"
	NoPendingCluster               = "NoPendingCluster"
	NoActiveCluster                = "NoActiveCluster"
	RayServiceValidationFailed     = "ValidationFailed"
)

// RayService serves Serve applications on a RayCluster with zero-downtime upgrades.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="service status",type=string,JSONPath=".status.serviceStatus"
// +kubebuilder:printcolumn:name="ready",type=string,JSONPath=".status.conditions[?(@.type==\"Ready\")].status"
// +kubebuilder:printcolumn:name="upgrading",type=string,JSONPath=".status.conditions[?(@.type==\"UpgradeInProgress\")].status"
// +kubebuilder:printcolumn:name="serve endpoints",type=integer,JSONPath=".status.numServeEndpoints"
// +kubebuilder:printcolumn:name="active cluster",type=string,JSONPath=".status.activeServiceStatus.rayClusterName",priority=1
// +kubebuilder:printcolumn:name="age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 47",message="metadata.name: a RayService name must be at most 47 characters so that the names of its clusters and Services stay legal"
// +genclient
type RayService struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec RayServiceSpec `json:"spec,omitempty"`
	// +optional
	Status RayServiceStatuses `json:"status,omitempty"`
}

// RayServiceList is a list of RayServices.
//
// +kubebuilder:object:root=true
type RayServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RayService `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RayService{}, &RayServiceList{})
}
