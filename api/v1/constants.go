package v1

// Labels that goray puts on every object it creates. They are KubeRay's, so
// selectors, dashboards and the autoscaler work against either operator.
const (
	RayClusterLabelKey           = "ray.io/cluster"
	RayNodeTypeLabelKey          = "ray.io/node-type"
	RayNodeGroupLabelKey         = "ray.io/group"
	RayIsRayNodeLabelKey         = "ray.io/is-ray-node"
	RayIDLabelKey                = "ray.io/identifier"
	RayClusterServingServiceKey  = "ray.io/serve"
	RayOriginatedFromCRNameKey   = "ray.io/originated-from-cr-name"
	RayOriginatedFromCRDKey      = "ray.io/originated-from-crd"
	KubernetesApplicationNameKey = "app.kubernetes.io/name"
	KubernetesCreatedByLabelKey  = "app.kubernetes.io/created-by"

	// ApplicationName is the value of app.kubernetes.io/name, kept as
	// KubeRay's so existing selectors and dashboards match.
	ApplicationName = "kuberay"
	// ComponentName is the value of app.kubernetes.io/created-by.
	ComponentName = "goray-operator"

	HeadGroupName = "headgroup"
)

// Annotations understood by the controllers.
const (
	RayFTEnabledAnnotationKey         = "ray.io/ft-enabled"
	OverwriteContainerCmdAnnotation   = "ray.io/overwrite-container-cmd"
	EnableServeServiceAnnotationKey   = "ray.io/enable-serve-service"
	HashWithoutReplicasAnnotationKey  = "ray.io/hash-without-replicas-and-workers-to-delete"
	NumWorkerGroupsAnnotationKey      = "ray.io/num-worker-groups"
	UpgradeStrategyRecreateHashKey    = "ray.io/upgrade-strategy-recreate-hash"
	InitializingTimeoutAnnotationKey  = "ray.io/initializing-timeout"
	DisableProvisionedHeadRestartKey  = "ray.io/disable-provisioned-head-restart"
	KubeRayVersionAnnotationKey       = "ray.io/kuberay-version"
	GCSFTDeletionTimeoutAnnotationKey = "ray.io/gcs-ft-deletion-timeout"
)

// Annotations of goray's own, in its goray.dev/ namespace (KubeRay has no
// counterpart).
const (
	// KeepRayImageAnnotation: "true" on a RayCluster (or on the RayJob or
	// RayService whose cluster it is) keeps Ray's images (rayproject/ray*,
	// anyscale/ray*) in its pods instead of running the operator's runtime
	// image in their place.
	KeepRayImageAnnotation = "goray.dev/keep-ray-image"
	// RuntimeImageReplacesAnnotation on a pod lists the containers that run the
	// runtime image in place of a Ray image, with the image they asked for:
	// "ray-head=rayproject/ray:2.52.0,autoscaler=rayproject/ray:2.52.0".
	RuntimeImageReplacesAnnotation = "goray.dev/runtime-image-replaces"
)

// RayNodeType is the role of a pod in a RayCluster (label ray.io/node-type).
type RayNodeType string

const (
	HeadNode         RayNodeType = "head"
	WorkerNode       RayNodeType = "worker"
	RedisCleanupNode RayNodeType = "redis-cleanup"
)

// Well-known ports and their names on the head Service.
const (
	GCSServerPort       = 6379
	DashboardPort       = 8265
	ClientPort          = 10001
	ServingPort         = 8000
	MetricsPort         = 8080
	DashboardAgentPort  = 52365
	GCSServerPortName   = "gcs-server"
	DashboardPortName   = "dashboard"
	ClientPortName      = "client"
	ServingPortName     = "serve"
	MetricsPortName     = "metrics"
	DashboardAgentName  = "dashboard-agent"
	KubeRayOperatorName = "ray.io/kuberay-operator"
	MultiKueueName      = "kueue.x-k8s.io/multikueue"
)
