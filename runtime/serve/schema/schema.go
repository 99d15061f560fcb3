// Package schema holds Ray Serve's REST API shapes (ServeDeploySchema for
// PUT /api/serve/applications/, ServeInstanceDetails for GET), the status
// enums, the defaults of python/ray/serve/config.py and the validation that
// answers a bad config with 400. It is pure: no I/O.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ServeDeploySchema is the body of PUT /api/serve/applications/ (and the
// serveConfigV2 of a RayService).
type ServeDeploySchema struct {
	ProxyLocation  string                   `json:"proxy_location,omitempty"`
	HTTPOptions    *HTTPOptions             `json:"http_options,omitempty"`
	GRPCOptions    map[string]any           `json:"grpc_options,omitempty"`
	LoggingConfig  map[string]any           `json:"logging_config,omitempty"`
	Applications   []ServeApplicationSchema `json:"applications"`
	TargetCapacity *float64                 `json:"target_capacity,omitempty"`
}

// HTTPOptions are the proxies' HTTP settings.
type HTTPOptions struct {
	Host              string   `json:"host,omitempty"`
	Port              int      `json:"port,omitempty"`
	RootPath          string   `json:"root_path,omitempty"`
	RequestTimeoutS   *float64 `json:"request_timeout_s,omitempty"`
	KeepAliveTimeoutS *float64 `json:"keep_alive_timeout_s,omitempty"`
	SSLKeyfile        string   `json:"ssl_keyfile,omitempty"`
	SSLCertfile       string   `json:"ssl_certfile,omitempty"`
	SSLKeyfilePass    string   `json:"ssl_keyfile_password,omitempty"`
	SSLCACerts        string   `json:"ssl_ca_certs,omitempty"`
}

// ServeApplicationSchema is one application of a deploy config.
type ServeApplicationSchema struct {
	Name string `json:"name"`
	// RoutePrefix defaults to "/" when absent.
	RoutePrefix           *string            `json:"route_prefix,omitempty"`
	ImportPath            string             `json:"import_path"`
	RuntimeEnv            map[string]any     `json:"runtime_env,omitempty"`
	Deployments           []DeploymentSchema `json:"deployments,omitempty"`
	Args                  map[string]any     `json:"args,omitempty"`
	LoggingConfig         map[string]any     `json:"logging_config,omitempty"`
	ExternalScalerEnabled bool               `json:"external_scaler_enabled,omitempty"`
	AutoscalingPolicy     map[string]any     `json:"autoscaling_policy,omitempty"`
	DocsPath              *string            `json:"docs_path,omitempty"`
}

// Route is the application's route prefix ("/" by default).
func (a *ServeApplicationSchema) Route() string {
	if a.RoutePrefix == nil {
		return "/"
	}
	return *a.RoutePrefix
}

// DeploymentSchema overrides the options a deployment was declared with.
// Nil fields keep the code's (or Ray's default) value.
type DeploymentSchema struct {
	Name                      string               `json:"name"`
	NumReplicas               *NumReplicas         `json:"num_replicas,omitempty"`
	MaxOngoingRequests        *int                 `json:"max_ongoing_requests,omitempty"`
	MaxQueuedRequests         *int                 `json:"max_queued_requests,omitempty"`
	UserConfig                json.RawMessage      `json:"user_config,omitempty"`
	AutoscalingConfig         *AutoscalingConfig   `json:"autoscaling_config,omitempty"`
	GracefulShutdownWaitLoopS *float64             `json:"graceful_shutdown_wait_loop_s,omitempty"`
	GracefulShutdownTimeoutS  *float64             `json:"graceful_shutdown_timeout_s,omitempty"`
	HealthCheckPeriodS        *float64             `json:"health_check_period_s,omitempty"`
	HealthCheckTimeoutS       *float64             `json:"health_check_timeout_s,omitempty"`
	RayActorOptions           *RayActorOptions     `json:"ray_actor_options,omitempty"`
	PlacementGroupBundles     []map[string]float64 `json:"placement_group_bundles,omitempty"`
	PlacementGroupStrategy    string               `json:"placement_group_strategy,omitempty"`
	MaxReplicasPerNode        *int                 `json:"max_replicas_per_node,omitempty"`
	LoggingConfig             map[string]any       `json:"logging_config,omitempty"`
	RequestRouterConfig       map[string]any       `json:"request_router_config,omitempty"`
}

// RayActorOptions are a replica actor's resources.
type RayActorOptions struct {
	RuntimeEnv      map[string]any     `json:"runtime_env,omitempty"`
	NumCPUs         *float64           `json:"num_cpus,omitempty"`
	NumGPUs         *float64           `json:"num_gpus,omitempty"`
	Memory          *float64           `json:"memory,omitempty"`
	Resources       map[string]float64 `json:"resources,omitempty"`
	AcceleratorType string             `json:"accelerator_type,omitempty"`
}

// AutoscalingConfig is a deployment's replica autoscaling (config.py).
// Nil fields take Ray's defaults when resolved.
type AutoscalingConfig struct {
	MinReplicas              *int     `json:"min_replicas,omitempty"`
	InitialReplicas          *int     `json:"initial_replicas,omitempty"`
	MaxReplicas              *int     `json:"max_replicas,omitempty"`
	TargetOngoingRequests    *float64 `json:"target_ongoing_requests,omitempty"`
	LookBackPeriodS          *float64 `json:"look_back_period_s,omitempty"`
	MetricsIntervalS         *float64 `json:"metrics_interval_s,omitempty"`
	SmoothingFactor          *float64 `json:"smoothing_factor,omitempty"`
	UpscalingFactor          *float64 `json:"upscaling_factor,omitempty"`
	DownscalingFactor        *float64 `json:"downscaling_factor,omitempty"`
	UpscaleDelayS            *float64 `json:"upscale_delay_s,omitempty"`
	DownscaleDelayS          *float64 `json:"downscale_delay_s,omitempty"`
	DownscaleToZeroDelayS    *float64 `json:"downscale_to_zero_delay_s,omitempty"`
	AggregationFunction      string   `json:"aggregation_function,omitempty"`
	Policy                   any      `json:"policy,omitempty"`
	UpscaleSmoothingFactor   *float64 `json:"upscale_smoothing_factor,omitempty"`
	DownscaleSmoothingFactor *float64 `json:"downscale_smoothing_factor,omitempty"`
}

// NumReplicas is an int or "auto".
type NumReplicas struct {
	Auto bool
	N    int
}

// MarshalJSON writes "auto" or the number.
func (n NumReplicas) MarshalJSON() ([]byte, error) {
	if n.Auto {
		return []byte(`"auto"`), nil
	}
	return []byte(strconv.Itoa(n.N)), nil
}

// UnmarshalJSON reads "auto" or a non-negative integer.
func (n *NumReplicas) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "auto" {
			return fmt.Errorf(`num_replicas must be a non-negative integer or "auto", got %s`, quoteClip(s, 64))
		}
		*n = NumReplicas{Auto: true}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf(`num_replicas must be a non-negative integer or "auto": %w`, err)
	}
	if math.Abs(v) > 1e9 { // far beyond MaxReplicasPerDeployment, and within an int
		return fmt.Errorf("num_replicas %v is out of range (the limit is %d per deployment)", v, MaxReplicasPerDeployment)
	}
	if v != float64(int(v)) {
		return fmt.Errorf("num_replicas must be an integer, got %v", v)
	}
	*n = NumReplicas{N: int(v)}
	return nil
}

// maxDecodeMessage bounds the decoder's message in an error.
const maxDecodeMessage = 512

// Decode parses a deploy config strictly: unknown fields are errors, like
// Ray's pydantic models (extra = forbid).
func Decode(b []byte) (*ServeDeploySchema, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var s ServeDeploySchema
	if err := d.Decode(&s); err != nil {
		if msg := err.Error(); len(msg) > maxDecodeMessage { // encoding/json quotes an unknown field whole
			return nil, fmt.Errorf("invalid ServeDeploySchema: %s... (%d bytes)", strings.ToValidUTF8(msg[:maxDecodeMessage], ""), len(msg))
		}
		return nil, fmt.Errorf("invalid ServeDeploySchema: %w", err)
	}
	if d.More() {
		return nil, fmt.Errorf("invalid ServeDeploySchema: trailing data after the JSON object")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err == nil {
		if _, ok := raw["applications"]; !ok {
			return nil, fmt.Errorf("invalid ServeDeploySchema: applications: field required")
		}
	}
	return &s, nil
}
