package schema

import (
	"encoding/json"
	"math"
	"reflect"
)

// Ray's defaults (serve/config.py, serve/_private/constants.py).
const (
	DefaultMaxOngoingRequests        = 5
	DefaultMaxQueuedRequests         = -1
	DefaultGracefulShutdownWaitLoopS = 2.0
	DefaultGracefulShutdownTimeoutS  = 20.0
	DefaultHealthCheckPeriodS        = 10.0
	DefaultHealthCheckTimeoutS       = 30.0
	DefaultTargetOngoingRequests     = 2.0
	DefaultUpscaleDelayS             = 30.0
	DefaultDownscaleDelayS           = 600.0
	DefaultLookBackPeriodS           = 30.0
	DefaultHTTPPort                  = 8000
)

// Autoscaling is a resolved AutoscalingConfig.
type Autoscaling struct {
	MinReplicas           int      `json:"min_replicas"`
	InitialReplicas       *int     `json:"initial_replicas"`
	MaxReplicas           int      `json:"max_replicas"`
	TargetOngoingRequests float64  `json:"target_ongoing_requests"`
	LookBackPeriodS       float64  `json:"look_back_period_s"`
	UpscaleDelayS         float64  `json:"upscale_delay_s"`
	DownscaleDelayS       float64  `json:"downscale_delay_s"`
	UpscalingFactor       *float64 `json:"upscaling_factor"`
	DownscalingFactor     *float64 `json:"downscaling_factor"`
	DownscaleToZeroDelayS *float64 `json:"downscale_to_zero_delay_s"`
}

// Resolve fills Ray's defaults; auto is num_replicas "auto", whose defaults
// are {min 1, max 100, target 2}.
func (a *AutoscalingConfig) Resolve(auto bool) Autoscaling {
	r := Autoscaling{MinReplicas: 1, MaxReplicas: 1, TargetOngoingRequests: DefaultTargetOngoingRequests,
		LookBackPeriodS: DefaultLookBackPeriodS, UpscaleDelayS: DefaultUpscaleDelayS, DownscaleDelayS: DefaultDownscaleDelayS}
	if auto {
		r.MaxReplicas = 100
	}
	if a == nil {
		return r
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setF := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	setI(&r.MinReplicas, a.MinReplicas)
	setI(&r.MaxReplicas, a.MaxReplicas)
	setF(&r.TargetOngoingRequests, a.TargetOngoingRequests)
	setF(&r.LookBackPeriodS, a.LookBackPeriodS)
	setF(&r.UpscaleDelayS, a.UpscaleDelayS)
	setF(&r.DownscaleDelayS, a.DownscaleDelayS)
	r.InitialReplicas, r.UpscalingFactor, r.DownscalingFactor, r.DownscaleToZeroDelayS =
		a.InitialReplicas, a.UpscalingFactor, a.DownscalingFactor, a.DownscaleToZeroDelayS
	if auto && a.MaxReplicas == nil && a.MinReplicas != nil && r.MinReplicas > r.MaxReplicas {
		r.MaxReplicas = r.MinReplicas
	}
	return r
}

// Resolved is a deployment's effective configuration: code defaults, then the
// config's overrides, then Ray's defaults.
type Resolved struct {
	Name                      string
	NumReplicas               int          // when Autoscaling is nil
	Autoscaling               *Autoscaling // replica autoscaling, if on
	MaxOngoingRequests        int
	MaxQueuedRequests         int
	UserConfig                json.RawMessage
	GracefulShutdownWaitLoopS float64
	GracefulShutdownTimeoutS  float64
	HealthCheckPeriodS        float64
	HealthCheckTimeoutS       float64
	Resources                 map[string]float64 // the replica actor's demand
	RayActorOptions           *RayActorOptions
	MaxReplicasPerNode        int // 0 = no limit
}

// Merge overlays o's set fields onto base (the code's options).
func Merge(base, o DeploymentSchema) DeploymentSchema {
	out := base
	bv, ov := reflect.ValueOf(&out).Elem(), reflect.ValueOf(o)
	for i := 0; i < ov.NumField(); i++ {
		f := ov.Field(i)
		if f.IsZero() {
			continue
		}
		bv.Field(i).Set(f)
	}
	// An int num_replicas given by the config replaces the code's autoscaling.
	if o.NumReplicas != nil && !o.NumReplicas.Auto && o.AutoscalingConfig == nil {
		out.AutoscalingConfig = nil
	}
	if o.AutoscalingConfig != nil && o.NumReplicas == nil && base.NumReplicas != nil && !base.NumReplicas.Auto {
		out.NumReplicas = nil
	}
	return out
}

// Resolve applies Ray's defaults to a (merged) deployment schema.
func Resolve(d DeploymentSchema) Resolved {
	r := Resolved{Name: d.Name, NumReplicas: 1, MaxOngoingRequests: DefaultMaxOngoingRequests,
		MaxQueuedRequests: DefaultMaxQueuedRequests, UserConfig: d.UserConfig,
		GracefulShutdownWaitLoopS: DefaultGracefulShutdownWaitLoopS, GracefulShutdownTimeoutS: DefaultGracefulShutdownTimeoutS,
		HealthCheckPeriodS: DefaultHealthCheckPeriodS, HealthCheckTimeoutS: DefaultHealthCheckTimeoutS,
		RayActorOptions: d.RayActorOptions}
	auto := d.NumReplicas != nil && d.NumReplicas.Auto
	if d.NumReplicas != nil && !auto {
		r.NumReplicas = d.NumReplicas.N
	}
	if auto || d.AutoscalingConfig != nil {
		a := d.AutoscalingConfig.Resolve(auto)
		r.Autoscaling = &a
	}
	pick := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	if d.MaxOngoingRequests != nil {
		r.MaxOngoingRequests = *d.MaxOngoingRequests
	}
	if d.MaxQueuedRequests != nil {
		r.MaxQueuedRequests = *d.MaxQueuedRequests
	}
	pick(&r.GracefulShutdownWaitLoopS, d.GracefulShutdownWaitLoopS)
	pick(&r.GracefulShutdownTimeoutS, d.GracefulShutdownTimeoutS)
	pick(&r.HealthCheckPeriodS, d.HealthCheckPeriodS)
	pick(&r.HealthCheckTimeoutS, d.HealthCheckTimeoutS)
	if d.MaxReplicasPerNode != nil {
		r.MaxReplicasPerNode = *d.MaxReplicasPerNode
	}
	// Replicas reserve one CPU unless ray_actor_options says otherwise, as in Ray Serve.
	r.Resources = map[string]float64{"CPU": 1}
	if o := d.RayActorOptions; o != nil {
		if o.NumCPUs != nil {
			r.Resources["CPU"] = *o.NumCPUs
		}
		if o.NumGPUs != nil && *o.NumGPUs > 0 {
			r.Resources["GPU"] = *o.NumGPUs
		}
		if o.Memory != nil && *o.Memory > 0 {
			r.Resources["memory"] = *o.Memory
		}
		for k, v := range o.Resources {
			r.Resources[k] = v
		}
		if o.AcceleratorType != "" {
			r.Resources["accelerator_type:"+o.AcceleratorType] = 0.001
		}
	}
	for k, v := range r.Resources {
		if v == 0 {
			delete(r.Resources, k)
		}
	}
	return r
}

// CapacityAdjusted scales a replica count by target_capacity (percent; nil = 100),
// rounding up like Ray's get_capacity_adjusted_num_replicas.
func CapacityAdjusted(n int, targetCapacity *float64) int {
	if targetCapacity == nil || *targetCapacity >= 100 {
		return n
	}
	if *targetCapacity <= 0 {
		return 0
	}
	return int(math.Ceil(float64(n) * *targetCapacity / 100))
}

// Config renders the effective configuration for the status API.
func (r Resolved) Config() DeploymentConfig {
	c := DeploymentConfig{Name: r.Name, MaxOngoingRequests: r.MaxOngoingRequests, MaxQueuedRequests: r.MaxQueuedRequests,
		UserConfig: r.UserConfig, AutoscalingConfig: r.Autoscaling, GracefulShutdownWaitLoopS: r.GracefulShutdownWaitLoopS,
		GracefulShutdownTimeoutS: r.GracefulShutdownTimeoutS, HealthCheckPeriodS: r.HealthCheckPeriodS,
		HealthCheckTimeoutS: r.HealthCheckTimeoutS, RayActorOptions: map[string]any{}}
	if r.Autoscaling == nil {
		n := r.NumReplicas
		c.NumReplicas = &n
	}
	if r.MaxReplicasPerNode > 0 {
		m := r.MaxReplicasPerNode
		c.MaxReplicasPerNode = &m
	}
	if cpu, ok := r.Resources["CPU"]; ok {
		c.RayActorOptions["num_cpus"] = cpu
	} else {
		c.RayActorOptions["num_cpus"] = 0.0
	}
	if g, ok := r.Resources["GPU"]; ok {
		c.RayActorOptions["num_gpus"] = g
	}
	if len(c.UserConfig) == 0 {
		c.UserConfig = json.RawMessage("null")
	}
	return c
}
