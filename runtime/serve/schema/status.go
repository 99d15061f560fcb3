package schema

import "encoding/json"

// ApplicationStatus values.
const (
	AppNotStarted   = "NOT_STARTED"
	AppDeploying    = "DEPLOYING"
	AppDeployFailed = "DEPLOY_FAILED"
	AppRunning      = "RUNNING"
	AppUnhealthy    = "UNHEALTHY"
	AppDeleting     = "DELETING"
)

// DeploymentStatus values.
const (
	DepUpdating     = "UPDATING"
	DepHealthy      = "HEALTHY"
	DepUnhealthy    = "UNHEALTHY"
	DepDeployFailed = "DEPLOY_FAILED"
	DepUpscaling    = "UPSCALING"
	DepDownscaling  = "DOWNSCALING"
)

// DeploymentStatusTrigger values.
const (
	TriggerUnspecified           = "UNSPECIFIED"
	TriggerConfigUpdateStarted   = "CONFIG_UPDATE_STARTED"
	TriggerConfigUpdateCompleted = "CONFIG_UPDATE_COMPLETED"
	TriggerUpscaleCompleted      = "UPSCALE_COMPLETED"
	TriggerDownscaleCompleted    = "DOWNSCALE_COMPLETED"
	TriggerAutoscaling           = "AUTOSCALING"
	TriggerReplicaStartupFailed  = "REPLICA_STARTUP_FAILED"
	TriggerHealthCheckFailed     = "HEALTH_CHECK_FAILED"
	TriggerInternalError         = "INTERNAL_ERROR"
	TriggerDeleting              = "DELETING"
)

// ReplicaState values.
const (
	ReplicaStarting   = "STARTING"
	ReplicaUpdating   = "UPDATING"
	ReplicaRecovering = "RECOVERING"
	ReplicaRunning    = "RUNNING"
	ReplicaStopping   = "STOPPING"
)

// ProxyStatus values.
const (
	ProxyStarting  = "STARTING"
	ProxyHealthy   = "HEALTHY"
	ProxyUnhealthy = "UNHEALTHY"
	ProxyDraining  = "DRAINING"
	ProxyDrained   = "DRAINED"
)

// ServeInstanceDetails answers GET /api/serve/applications/.
type ServeInstanceDetails struct {
	ControllerInfo ControllerInfo                 `json:"controller_info"`
	ProxyLocation  string                         `json:"proxy_location"`
	HTTPOptions    HTTPOptions                    `json:"http_options"`
	GRPCOptions    map[string]any                 `json:"grpc_options"`
	Proxies        map[string]ProxyDetails        `json:"proxies"`
	DeployMode     string                         `json:"deploy_mode"`
	Applications   map[string]*ApplicationDetails `json:"applications"`
	TargetCapacity *float64                       `json:"target_capacity"`
	TargetGroups   []TargetGroup                  `json:"target_groups"`
}

// ControllerInfo locates the serve controller (on the head).
type ControllerInfo struct {
	NodeID         string `json:"node_id"`
	NodeIP         string `json:"node_ip"`
	NodeInstanceID string `json:"node_instance_id"`
	ActorID        string `json:"actor_id"`
	ActorName      string `json:"actor_name"`
	WorkerID       string `json:"worker_id"`
	LogFilePath    string `json:"log_file_path"`
}

// ProxyDetails is one node's HTTP proxy.
type ProxyDetails struct {
	NodeID         string `json:"node_id"`
	NodeIP         string `json:"node_ip"`
	NodeInstanceID string `json:"node_instance_id"`
	ActorID        string `json:"actor_id"`
	ActorName      string `json:"actor_name"`
	WorkerID       string `json:"worker_id"`
	LogFilePath    string `json:"log_file_path"`
	Status         string `json:"status"`
	Port           int    `json:"port"`
}

// TargetGroup lists where a protocol's traffic for a route prefix can go.
type TargetGroup struct {
	Targets     []Target `json:"targets"`
	RoutePrefix string   `json:"route_prefix"`
	Protocol    string   `json:"protocol"`
}

// Target is one proxy.
type Target struct {
	IP         string `json:"ip"`
	Port       int    `json:"port"`
	InstanceID string `json:"instance_id"`
	Name       string `json:"name"`
}

// ApplicationDetails is one application's status.
type ApplicationDetails struct {
	Name                  string                        `json:"name"`
	RoutePrefix           *string                       `json:"route_prefix"`
	DocsPath              *string                       `json:"docs_path"`
	Status                string                        `json:"status"`
	Message               string                        `json:"message"`
	LastDeployedTimeS     float64                       `json:"last_deployed_time_s"`
	DeployedAppConfig     *ServeApplicationSchema       `json:"deployed_app_config"`
	Source                string                        `json:"source"`
	ExternalScalerEnabled bool                          `json:"external_scaler_enabled"`
	DeploymentTopology    *DeploymentTopology           `json:"deployment_topology"`
	Deployments           map[string]*DeploymentDetails `json:"deployments"`
}

// DeploymentTopology names the ingress deployment and the others.
type DeploymentTopology struct {
	AppName           string                        `json:"app_name"`
	IngressDeployment string                        `json:"ingress_deployment"`
	Nodes             map[string]DeploymentNodeInfo `json:"nodes"`
}

// DeploymentNodeInfo is one deployment of the topology.
type DeploymentNodeInfo struct {
	Name                string   `json:"name"`
	AppName             string   `json:"app_name"`
	IsIngress           bool     `json:"is_ingress"`
	OutboundDeployments []string `json:"outbound_deployments"`
}

// DeploymentDetails is one deployment's status.
type DeploymentDetails struct {
	Name              string             `json:"name"`
	Status            string             `json:"status"`
	StatusTrigger     string             `json:"status_trigger"`
	Message           string             `json:"message"`
	DeploymentConfig  DeploymentConfig   `json:"deployment_config"`
	TargetNumReplicas int                `json:"target_num_replicas"`
	RequiredResources map[string]float64 `json:"required_resources"`
	Replicas          []ReplicaDetails   `json:"replicas"`
	AutoscalingDetail *AutoscalingDetail `json:"autoscaling_detail,omitempty"`
}

// DeploymentConfig is a deployment's effective configuration.
type DeploymentConfig struct {
	Name                      string          `json:"name"`
	NumReplicas               *int            `json:"num_replicas"`
	MaxOngoingRequests        int             `json:"max_ongoing_requests"`
	MaxQueuedRequests         int             `json:"max_queued_requests"`
	UserConfig                json.RawMessage `json:"user_config"`
	AutoscalingConfig         *Autoscaling    `json:"autoscaling_config"`
	GracefulShutdownWaitLoopS float64         `json:"graceful_shutdown_wait_loop_s"`
	GracefulShutdownTimeoutS  float64         `json:"graceful_shutdown_timeout_s"`
	HealthCheckPeriodS        float64         `json:"health_check_period_s"`
	HealthCheckTimeoutS       float64         `json:"health_check_timeout_s"`
	RayActorOptions           map[string]any  `json:"ray_actor_options"`
	MaxReplicasPerNode        *int            `json:"max_replicas_per_node"`
}

// ReplicaDetails is one replica.
type ReplicaDetails struct {
	ReplicaID      string  `json:"replica_id"`
	State          string  `json:"state"`
	PID            int     `json:"pid"`
	StartTimeS     float64 `json:"start_time_s"`
	NodeID         string  `json:"node_id"`
	NodeIP         string  `json:"node_ip"`
	NodeInstanceID string  `json:"node_instance_id"`
	ActorID        string  `json:"actor_id"`
	ActorName      string  `json:"actor_name"`
	WorkerID       string  `json:"worker_id"`
	LogFilePath    string  `json:"log_file_path"`
	// Address is goray's: where the replica takes requests from proxies and handles.
	Address string `json:"address,omitempty"`
}

// AutoscalingDetail is the autoscaler's view of a deployment.
type AutoscalingDetail struct {
	CurrentReplicas int     `json:"current_replicas"`
	TargetReplicas  int     `json:"target_replicas"`
	OngoingRequests float64 `json:"ongoing_requests"`
	Decision        string  `json:"decision"`
}
