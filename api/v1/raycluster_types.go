package v1

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RayClusterSpec is the desired shape of a Ray cluster: one head group and
// any number of worker groups.
//
// +kubebuilder:validation:XValidation:rule="!has(self.workerGroupSpecs) || self.workerGroupSpecs.all(g, self.workerGroupSpecs.exists_one(h, h.groupName == g.groupName))",message="spec.workerGroupSpecs[].groupName: every worker group needs a unique groupName"
// +kubebuilder:validation:XValidation:rule="!has(self.enableInTreeAutoscaling) || !self.enableInTreeAutoscaling || !has(self.workerGroupSpecs) || self.workerGroupSpecs.all(g, !has(g.suspend) || !g.suspend)",message="spec.workerGroupSpecs[].suspend: a worker group cannot be suspended while enableInTreeAutoscaling is true; set suspend on the RayCluster instead"
// +kubebuilder:validation:XValidation:rule="!has(self.gcsFaultToleranceOptions) || !has(self.headGroupSpec.rayStartParams) || !('redis-password' in self.headGroupSpec.rayStartParams)",message="spec.headGroupSpec.rayStartParams.redis-password: set the Redis password in gcsFaultToleranceOptions.redisPassword only, not in rayStartParams as well"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.managedBy) == has(self.managedBy)",message="spec.managedBy is immutable: it cannot be added or removed after creation"
// +kubebuilder:validation:XValidation:rule="!has(self.gcsFaultToleranceOptions) || !has(self.headGroupSpec.rayStartParams) || !('redis-username' in self.headGroupSpec.rayStartParams)",message="spec.headGroupSpec.rayStartParams.redis-username: set the Redis user in gcsFaultToleranceOptions.redisUsername only, not in rayStartParams as well"
type RayClusterSpec struct {
	// UpgradeStrategy defines the scaling policy used when upgrading the RayCluster.
	// +optional
	UpgradeStrategy *RayClusterUpgradeStrategy `json:"upgradeStrategy,omitempty"`
	// AuthOptions specifies the authentication options for the RayCluster.
	// Token auth is on when it is absent (goray's default; see Mode).
	// +optional
	AuthOptions *AuthOptions `json:"authOptions,omitempty"`
	// Suspend indicates whether a RayCluster should be suspended: all its pods are deleted.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
	// ManagedBy names the controller that reconciles this object. goray acts
	// as KubeRay's operator for ray.io/kuberay-operator; objects managed by
	// MultiKueue are left alone. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.managedBy is immutable"
	// +kubebuilder:validation:XValidation:rule="self in ['ray.io/kuberay-operator', 'kueue.x-k8s.io/multikueue']",message="spec.managedBy must be either 'ray.io/kuberay-operator' or 'kueue.x-k8s.io/multikueue'"
	// +optional
	ManagedBy *string `json:"managedBy,omitempty"`
	// AutoscalerOptions specifies optional configuration for the autoscaler.
	// +optional
	AutoscalerOptions *AutoscalerOptions `json:"autoscalerOptions,omitempty"`
	// HeadServiceAnnotations are added to the head Service.
	// +optional
	HeadServiceAnnotations map[string]string `json:"headServiceAnnotations,omitempty"`
	// EnableInTreeAutoscaling adds the autoscaler container to the head pod
	// together with its ServiceAccount, Role and RoleBinding.
	// +optional
	EnableInTreeAutoscaling *bool `json:"enableInTreeAutoscaling,omitempty"`
	// GcsFaultToleranceOptions enables GCS fault tolerance with an external store.
	// +optional
	GcsFaultToleranceOptions *GcsFaultToleranceOptions `json:"gcsFaultToleranceOptions,omitempty"`
	// NetworkPolicy makes the operator create NetworkPolicies isolating the
	// cluster's pods; without it none are created (and ones it made are deleted).
	// +optional
	NetworkPolicy *NetworkPolicyConfig `json:"networkPolicy,omitempty"`
	// TLSOptions configures mutual TLS between the cluster's processes.
	// +optional
	TLSOptions *TLSOptions `json:"tlsOptions,omitempty"`
	// HistoryServerOptions configures the history-server log collector sidecar.
	// +optional
	HistoryServerOptions *HistoryServerOptions `json:"historyServerOptions,omitempty"`
	// HeadGroupSpec is the spec of the head pod.
	HeadGroupSpec HeadGroupSpec `json:"headGroupSpec"`
	// RayVersion is the version of Ray the cluster runs; goray records it.
	// +optional
	RayVersion string `json:"rayVersion,omitempty"`
	// WorkerGroupSpecs are the specs of the worker pods.
	// +kubebuilder:validation:MaxItems=128
	// +optional
	WorkerGroupSpecs []WorkerGroupSpec `json:"workerGroupSpecs,omitempty"`
}

// UpgradeStrategyType is how a RayCluster reacts to a change of its pod templates.
// +kubebuilder:validation:Enum=Recreate;None
type UpgradeStrategyType string

const (
	// RayClusterRecreate deletes and recreates every pod when the spec changes.
	RayClusterRecreate UpgradeStrategyType = "Recreate"
	// RayClusterUpgradeNone leaves running pods alone; only new pods see the change.
	RayClusterUpgradeNone UpgradeStrategyType = "None"
)

// RayClusterUpgradeStrategy selects what happens to running pods on a spec change.
type RayClusterUpgradeStrategy struct {
	// Type is Recreate or None (the default).
	// +optional
	Type *UpgradeStrategyType `json:"type,omitempty"`
}

// AuthMode is the authentication mode of a RayCluster.
// +kubebuilder:validation:Enum=disabled;token
type AuthMode string

const (
	AuthModeDisabled AuthMode = "disabled"
	AuthModeToken    AuthMode = "token"
)

// AuthOptions configures token authentication between clients and the cluster.
// +kubebuilder:validation:XValidation:rule="!has(self.enableK8sTokenAuth) || !self.enableK8sTokenAuth || (has(self.mode) && self.mode == 'token')",message="spec.authOptions.enableK8sTokenAuth requires spec.authOptions.mode: token"
// +kubebuilder:validation:XValidation:rule="!has(self.secretName) || (has(self.mode) && self.mode == 'token')",message="spec.authOptions.secretName requires spec.authOptions.mode: token"
type AuthOptions struct {
	// Mode is token or disabled. goray is secure by default, unlike KubeRay:
	// without authOptions, or without a mode, a cluster runs with token auth
	// (a Secret <cluster> holding a generated token); disabled turns it off.
	// +optional
	Mode AuthMode `json:"mode,omitempty"`
	// SecretName names a user-provided Secret holding the token under key
	// auth_token. Without it the operator generates one named <cluster>
	// (unless the head container sets RAY_AUTH_TOKEN itself).
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretName *string `json:"secretName,omitempty"`
	// EnableK8sTokenAuth also accepts Kubernetes ServiceAccount tokens.
	// +optional
	EnableK8sTokenAuth *bool `json:"enableK8sTokenAuth,omitempty"`
}

// GcsFaultToleranceBackend is where the GCS keeps its state.
// +kubebuilder:validation:Enum=redis;rocksdb
type GcsFaultToleranceBackend string

const (
	GcsBackendRedis   GcsFaultToleranceBackend = "redis"
	GcsBackendRocksDB GcsFaultToleranceBackend = "rocksdb"
)

// GcsFaultToleranceOptions configures GCS fault tolerance.
// +kubebuilder:validation:XValidation:rule="(has(self.backend) && self.backend == 'rocksdb') || has(self.redisAddress)",message="spec.gcsFaultToleranceOptions.redisAddress is required with the redis backend"
// +kubebuilder:validation:XValidation:rule="!has(self.storage) || (has(self.backend) && self.backend == 'rocksdb')",message="spec.gcsFaultToleranceOptions.storage is only valid with backend: rocksdb"
// +kubebuilder:validation:XValidation:rule="!has(self.backend) || !has(oldSelf.backend) || self.backend == oldSelf.backend",message="spec.gcsFaultToleranceOptions.backend is immutable"
type GcsFaultToleranceOptions struct {
	// Backend is redis (the default) or rocksdb.
	// +optional
	Backend GcsFaultToleranceBackend `json:"backend,omitempty"`
	// +optional
	RedisUsername *RedisCredential `json:"redisUsername,omitempty"`
	// +optional
	RedisPassword *RedisCredential `json:"redisPassword,omitempty"`
	// +optional
	ExternalStorageNamespace string `json:"externalStorageNamespace,omitempty"`
	// RedisAddress is host:port (or a redis:// URI) of the external Redis.
	// +optional
	RedisAddress string `json:"redisAddress,omitempty"`
	// Storage configures the PVC of the embedded rocksdb backend.
	// +optional
	Storage *GcsStorageOptions `json:"storage,omitempty"`
}

// RedisCredential is a literal value or a reference to one.
// +kubebuilder:validation:XValidation:rule="!(has(self.value) && has(self.valueFrom))",message="set either value or valueFrom, not both"
type RedisCredential struct {
	// +optional
	ValueFrom *corev1.EnvVarSource `json:"valueFrom,omitempty"`
	// +optional
	Value string `json:"value,omitempty"`
}

// GcsStorageDeletionPolicy says what happens to the GCS PVC when the cluster goes.
// +kubebuilder:validation:Enum=DeleteWithCluster;Retain
type GcsStorageDeletionPolicy string

// GcsStorageOptions configures the PersistentVolumeClaim of the rocksdb backend.
type GcsStorageOptions struct {
	// ClaimName uses an existing PVC instead of creating <cluster>-gcs-pvc.
	// +optional
	ClaimName string `json:"claimName,omitempty"`
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// +optional
	AccessModes []corev1.PersistentVolumeAccessMode `json:"accessModes,omitempty"`
	// +optional
	SubPath string `json:"subPath,omitempty"`
	// +optional
	DeletionPolicy GcsStorageDeletionPolicy `json:"deletionPolicy,omitempty"`
}

// NetworkPolicyMode selects which directions the generated NetworkPolicies
// close: traffic among the cluster's own pods stays open in every mode.
// +kubebuilder:validation:Enum=DenyAll;DenyAllIngress;DenyAllEgress
type NetworkPolicyMode string

const (
	// NetworkPolicyDenyAll closes ingress and egress.
	NetworkPolicyDenyAll NetworkPolicyMode = "DenyAll"
	// NetworkPolicyDenyAllIngress closes ingress; egress is left as it is.
	NetworkPolicyDenyAllIngress NetworkPolicyMode = "DenyAllIngress"
	// NetworkPolicyDenyAllEgress closes egress; ingress is left as it is.
	NetworkPolicyDenyAllEgress NetworkPolicyMode = "DenyAllEgress"
)

// NetworkPolicyConfig makes the operator create a NetworkPolicy for the head
// pod and one per worker group (KubeRay's alpha RayClusterNetworkPolicy).
type NetworkPolicyConfig struct {
	// Mode is DenyAll (the default), DenyAllIngress or DenyAllEgress.
	// +kubebuilder:default=DenyAll
	// +optional
	Mode NetworkPolicyMode `json:"mode,omitempty"`
	// Head rules are appended to the head pod's policy.
	// +optional
	Head *NetworkPolicyRules `json:"head,omitempty"`
	// Worker rules are appended to the policy of every worker group that has
	// no entry in WorkerGroups.
	// +optional
	Worker *NetworkPolicyRules `json:"worker,omitempty"`
	// WorkerGroups entries replace (not merge with) Worker for their group.
	// +listType=map
	// +listMapKey=groupName
	// +kubebuilder:validation:MaxItems=128
	// +optional
	WorkerGroups []WorkerGroupNetworkPolicyRules `json:"workerGroups,omitempty"`
}

// NetworkPolicyRules are allowed ingress and egress rules added to a policy.
// A rule for a direction the mode leaves open has no effect.
type NetworkPolicyRules struct {
	// +optional
	IngressRules []networkingv1.NetworkPolicyIngressRule `json:"ingressRules,omitempty"`
	// +optional
	EgressRules []networkingv1.NetworkPolicyEgressRule `json:"egressRules,omitempty"`
}

// WorkerGroupNetworkPolicyRules are the rules of one worker group.
type WorkerGroupNetworkPolicyRules struct {
	// GroupName is a workerGroupSpecs[].groupName.
	GroupName string `json:"groupName"`
	// +optional
	NetworkPolicyRules `json:",inline"`
}

// TLSOptions configures mutual TLS.
// +kubebuilder:validation:XValidation:rule="!has(self.secretName) || (has(self.enabled) && self.enabled)",message="spec.tlsOptions.secretName requires spec.tlsOptions.enabled: true"
type TLSOptions struct {
	// Enabled turns on mutual TLS between the cluster's processes and HTTPS
	// on its dashboard, node agent and metrics ports.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// SecretName (a goray extension) names a Secret of the user's holding
	// tls.crt, tls.key and ca.crt. Without it the operator makes a CA Secret
	// <cluster>-tls-ca and a certificate Secret <cluster>-tls.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SecretName *string `json:"secretName,omitempty"`
}

// HistoryServerOptions configures the history server integration.
type HistoryServerOptions struct {
	// +optional
	CollectorOptions *CollectorOptions `json:"collectorOptions,omitempty"`
}

// CollectorOptions overrides the log collector sidecar.
type CollectorOptions struct {
	// +optional
	Image *string `json:"image,omitempty"`
	// +optional
	ImagePullPolicy *corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// HeadGroupSpec is the spec of the head pod.
// +kubebuilder:validation:XValidation:rule="has(self.template.spec) && size(self.template.spec.containers) > 0",message="spec.headGroupSpec.template.spec.containers: the head pod template needs at least one container (the Ray container is containers[0])"
type HeadGroupSpec struct {
	// Resources overrides the --resources given in rayStartParams.
	// +optional
	Resources map[string]string `json:"resources,omitempty"`
	// Template is the head pod template. The Ray container is containers[0].
	Template corev1.PodTemplateSpec `json:"template"`
	// HeadService overrides the generated head Service.
	// +optional
	HeadService *corev1.Service `json:"headService,omitempty"`
	// EnableIngress creates an Ingress for the dashboard.
	// +optional
	EnableIngress *bool `json:"enableIngress,omitempty"`
	// IngressOptions configures the dashboard Ingress.
	// +optional
	IngressOptions *IngressOptions `json:"ingressOptions,omitempty"`
	// Labels overrides --labels in rayStartParams and is copied onto the pod.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// RayStartParams are the flags of `goray start --head` (Ray's names).
	// +optional
	RayStartParams map[string]string `json:"rayStartParams,omitempty"`
	// ServiceType is the type of the head Service: ClusterIP (headless by default), NodePort or LoadBalancer.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	ServiceType corev1.ServiceType `json:"serviceType,omitempty"`
}

// IngressOptions configures the dashboard Ingress of the head.
type IngressOptions struct {
	// +optional
	Host string `json:"host,omitempty"`
	// +optional
	Path string `json:"path,omitempty"`
	// +optional
	PathType *string `json:"pathType,omitempty"`
	// +optional
	TLS []IngressTLS `json:"tls,omitempty"`
}

// IngressTLS mirrors networking/v1 IngressTLS.
type IngressTLS struct {
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// +optional
	SecretName string `json:"secretName,omitempty"`
}

// WorkerGroupSpec is the spec of one group of identical worker pods.
// +kubebuilder:validation:XValidation:rule="!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas",message="spec.workerGroupSpecs[].minReplicas must be less than or equal to maxReplicas"
// +kubebuilder:validation:XValidation:rule="has(self.template.spec) && size(self.template.spec.containers) > 0",message="spec.workerGroupSpecs[].template.spec.containers: every worker pod template needs at least one container (the Ray container is containers[0])"
type WorkerGroupSpec struct {
	// Suspend deletes the group's pods. Used by the RayJob DeleteWorkers policy.
	// +optional
	Suspend *bool `json:"suspend,omitempty"`
	// GroupName is the value of the ray.io/group label of the group's pods.
	// It must be a valid label value and keep the pod names legal.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	GroupName string `json:"groupName"`
	// Replicas is the desired number of replicas, clamped to [minReplicas, maxReplicas].
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default:=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// MinReplicas is the lower bound of replicas.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default:=0
	// +optional
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// MaxReplicas is the upper bound of replicas.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default:=2147483647
	// +optional
	MaxReplicas *int32 `json:"maxReplicas,omitempty"`
	// IdleTimeoutSeconds overrides the autoscaler's idle timeout for this group.
	// +kubebuilder:validation:Minimum=0
	// +optional
	IdleTimeoutSeconds *int32 `json:"idleTimeoutSeconds,omitempty"`
	// Priority orders groups when the autoscaler can choose between them.
	// +optional
	Priority *int32 `json:"priority,omitempty"`
	// Resources overrides the --resources given in rayStartParams.
	// +optional
	Resources map[string]string `json:"resources,omitempty"`
	// Labels overrides --labels in rayStartParams and is copied onto the pods.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// RayStartParams are the flags of `goray start` (Ray's names).
	// +optional
	RayStartParams map[string]string `json:"rayStartParams,omitempty"`
	// Template is the worker pod template. The Ray container is containers[0].
	Template corev1.PodTemplateSpec `json:"template"`
	// ScaleStrategy names pods to delete first (the autoscaler protocol).
	// +optional
	ScaleStrategy ScaleStrategy `json:"scaleStrategy,omitempty"`
	// NumOfHosts is the number of pods per replica (multi-host).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default:=1
	// +optional
	NumOfHosts int32 `json:"numOfHosts,omitempty"`
}

// ScaleStrategy lists pods the autoscaler wants removed.
type ScaleStrategy struct {
	// WorkersToDelete are pod names deleted before any other scaling decision.
	// +optional
	WorkersToDelete []string `json:"workersToDelete,omitempty"`
}

// UpscalingMode is how fast the autoscaler adds nodes.
// +kubebuilder:validation:Enum=Default;Aggressive;Conservative
type UpscalingMode string

const (
	UpscalingConservative UpscalingMode = "Conservative"
	UpscalingDefault      UpscalingMode = "Default"
	UpscalingAggressive   UpscalingMode = "Aggressive"
)

// AutoscalerVersion selects the autoscaler generation; goray has one, and accepts both names.
// +kubebuilder:validation:Enum=v1;v2
type AutoscalerVersion string

// AutoscalerOptions configures the autoscaler sidecar.
type AutoscalerOptions struct {
	// Resources of the autoscaler container (default 500m / 512Mi).
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// Image of the autoscaler container (default: the Ray container's image).
	// +optional
	Image *string `json:"image,omitempty"`
	// +optional
	ImagePullPolicy *corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
	// IdleTimeoutSeconds is how long a worker must be idle before it is removed (default 60).
	// +kubebuilder:validation:Minimum=0
	// +optional
	IdleTimeoutSeconds *int32 `json:"idleTimeoutSeconds,omitempty"`
	// UpscalingMode is Conservative, Default or Aggressive.
	// +optional
	UpscalingMode *UpscalingMode `json:"upscalingMode,omitempty"`
	// Version is accepted for compatibility; goray runs one autoscaler.
	// +optional
	Version *AutoscalerVersion `json:"version,omitempty"`
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// +optional
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
	// Command overrides the autoscaler container's command.
	// +optional
	Command []string `json:"command,omitempty"`
	// Args overrides the autoscaler container's args.
	// +optional
	Args []string `json:"args,omitempty"`
}

// ClusterState is the coarse state of a RayCluster (deprecated in favour of conditions).
type ClusterState string

const (
	Ready     ClusterState = "ready"
	Suspended ClusterState = "suspended"
	// Failed is deprecated and never set by goray.
	Failed ClusterState = "failed"
)

// RayClusterStatus is the observed state of a RayCluster.
type RayClusterStatus struct {
	// State is ready or suspended. Deprecated: use conditions.
	// +optional
	State ClusterState `json:"state,omitempty"`
	// DesiredCPU is the sum of CPU requested by all pods.
	// +optional
	DesiredCPU resource.Quantity `json:"desiredCPU,omitempty"`
	// +optional
	DesiredMemory resource.Quantity `json:"desiredMemory,omitempty"`
	// +optional
	DesiredGPU resource.Quantity `json:"desiredGPU,omitempty"`
	// +optional
	DesiredTPU resource.Quantity `json:"desiredTPU,omitempty"`
	// LastUpdateTime is when the status last changed.
	// +optional
	LastUpdateTime *metav1.Time `json:"lastUpdateTime,omitempty"`
	// StateTransitionTimes records when each state was entered.
	// +optional
	StateTransitionTimes map[ClusterState]*metav1.Time `json:"stateTransitionTimes,omitempty"`
	// Endpoints are the head Service's named ports.
	// +optional
	Endpoints map[string]string `json:"endpoints,omitempty"`
	// Head is where the head pod and Service are.
	// +optional
	Head HeadInfo `json:"head,omitempty"`
	// Reason explains the state.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Conditions: HeadPodReady, RayClusterProvisioned, ReplicaFailure, RayClusterSuspending, RayClusterSuspended.
	// +optional
	// +patchMergeKey=type
	// +patchStrategy=merge
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// ReadyWorkerReplicas is the number of worker pods that are Running and Ready.
	// +optional
	ReadyWorkerReplicas int32 `json:"readyWorkerReplicas,omitempty"`
	// AvailableWorkerReplicas is the number of worker pods that are Running.
	// +optional
	AvailableWorkerReplicas int32 `json:"availableWorkerReplicas,omitempty"`
	// DesiredWorkerReplicas is Σ replicas × numOfHosts over the worker groups.
	// +optional
	DesiredWorkerReplicas int32 `json:"desiredWorkerReplicas,omitempty"`
	// +optional
	MinWorkerReplicas int32 `json:"minWorkerReplicas,omitempty"`
	// +optional
	MaxWorkerReplicas int32 `json:"maxWorkerReplicas,omitempty"`
	// ObservedGeneration is the generation this status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// HeadInfo locates the head pod and Service.
type HeadInfo struct {
	// +optional
	PodIP string `json:"podIP,omitempty"`
	// +optional
	ServiceIP string `json:"serviceIP,omitempty"`
	// +optional
	PodName string `json:"podName,omitempty"`
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
}

// RayClusterConditionType names a RayCluster condition.
type RayClusterConditionType string

const (
	RayClusterProvisioned    RayClusterConditionType = "RayClusterProvisioned"
	HeadPodReady             RayClusterConditionType = "HeadPodReady"
	RayClusterReplicaFailure RayClusterConditionType = "ReplicaFailure"
	RayClusterSuspending     RayClusterConditionType = "RayClusterSuspending"
	RayClusterSuspended      RayClusterConditionType = "RayClusterSuspended"
)

// Condition reasons of a RayCluster.
const (
	AllPodRunningAndReadyFirstTime = "AllPodRunningAndReadyFirstTime"
	RayClusterPodsProvisioning     = "RayClusterPodsProvisioning"
	HeadPodNotFound                = "HeadPodNotFound"
	HeadPodRunningAndReady         = "HeadPodRunningAndReady"
	UnknownReason                  = "Unknown"
	FailedCreateHeadPod            = "FailedCreateHeadPod"
	FailedCreateWorkerPod          = "FailedCreateWorkerPod"
	FailedDeleteWorkerPod          = "FailedDeleteWorkerPod"
	FailedDeleteAllPods            = "FailedDeleteAllPods"
	InvalidSpec                    = "InvalidSpec"
)

// RayCluster is a Ray cluster: a head pod, worker pods and their Services.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:categories=all
// +kubebuilder:printcolumn:name="desired workers",type=integer,JSONPath=".status.desiredWorkerReplicas"
// +kubebuilder:printcolumn:name="available workers",type=integer,JSONPath=".status.availableWorkerReplicas"
// +kubebuilder:printcolumn:name="ready workers",type=integer,JSONPath=".status.readyWorkerReplicas",priority=1
// +kubebuilder:printcolumn:name="cpus",type=string,JSONPath=".status.desiredCPU"
// +kubebuilder:printcolumn:name="memory",type=string,JSONPath=".status.desiredMemory"
// +kubebuilder:printcolumn:name="gpus",type=string,JSONPath=".status.desiredGPU"
// +kubebuilder:printcolumn:name="status",type="string",JSONPath=".status.state"
// +kubebuilder:printcolumn:name="age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="head pod IP",type="string",JSONPath=".status.head.podIP",priority=1
// +kubebuilder:printcolumn:name="head service IP",type="string",JSONPath=".status.head.serviceIP",priority=1
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 53",message="metadata.name: a RayCluster name must be at most 53 characters so that <name>-serve-svc is a legal Service name"
// +genclient
type RayCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec RayClusterSpec `json:"spec,omitempty"`
	// +optional
	Status RayClusterStatus `json:"status,omitempty"`
}

// RayClusterList is a list of RayClusters.
//
// +kubebuilder:object:root=true
type RayClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RayCluster `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RayCluster{}, &RayClusterList{})
}
