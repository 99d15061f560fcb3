package schema

import (
	"errors"
	"fmt"
	"strings"
)

// ValidationError lists everything wrong with a config.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return fmt.Sprintf("%d validation error(s) for ServeDeploySchema:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

// IsValidationError reports whether err is a *ValidationError.
func IsValidationError(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}

// Validate checks what Ray's schema checks without knowing the code: names,
// route prefixes, ranges and conflicting options.
func Validate(s *ServeDeploySchema) error {
	var p []string
	add := func(format string, a ...any) { p = append(p, fmt.Sprintf(format, a...)) }
	switch s.ProxyLocation {
	case "", "Disabled", "HeadOnly", "EveryNode":
	default:
		add("proxy_location: must be one of Disabled, HeadOnly, EveryNode, got %q", s.ProxyLocation)
	}
	if tc := s.TargetCapacity; tc != nil && (*tc < 0 || *tc > 100) {
		add("target_capacity: must be between 0 and 100, got %v", *tc)
	}
	if h := s.HTTPOptions; h != nil && (h.Port < 0 || h.Port > 65535) {
		add("http_options.port: %d is not a port", h.Port)
	}
	names := map[string]bool{}
	routes := map[string]string{}
	for i, a := range s.Applications {
		where := fmt.Sprintf("applications[%d]", i)
		if a.Name != "" {
			where = fmt.Sprintf("applications[%d] (%q)", i, a.Name)
		}
		if strings.TrimSpace(a.Name) == "" {
			add("%s.name: application names must be non-empty", where)
		} else if names[a.Name] {
			add("%s.name: application names must be unique, %q appears more than once", where, a.Name)
		}
		names[a.Name] = true
		rp := a.Route()
		switch {
		case !strings.HasPrefix(rp, "/"):
			add("%s.route_prefix: %q must start with '/'", where, rp)
		case rp != "/" && strings.HasSuffix(rp, "/"):
			add("%s.route_prefix: %q must not end with '/' unless it is '/'", where, rp)
		case strings.ContainsAny(rp, "{}"):
			add("%s.route_prefix: %q may not contain wildcards ('{' or '}')", where, rp)
		}
		if other, dup := routes[rp]; dup {
			add("%s.route_prefix: %q is also the route prefix of application %q; route prefixes must be unique", where, rp, other)
		} else {
			routes[rp] = a.Name
		}
		if strings.TrimSpace(a.ImportPath) == "" {
			add("%s.import_path: field required", where)
		}
		if b, ok := a.RuntimeEnv["binary"]; ok {
			if _, isStr := b.(string); !isStr {
				add("%s.runtime_env.binary: must be a string path", where)
			}
		}
		deps := map[string]bool{}
		for j, d := range a.Deployments {
			validateDeployment(add, fmt.Sprintf("%s.deployments[%d]", where, j), d, a.ExternalScalerEnabled, deps)
		}
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

func validateDeployment(add func(string, ...any), where string, d DeploymentSchema, external bool, seen map[string]bool) {
	if d.Name == "" {
		add("%s.name: field required", where)
	} else {
		where = fmt.Sprintf("%s (%q)", where, d.Name)
		if seen[d.Name] {
			add("%s.name: deployment %q is listed more than once", where, d.Name)
		}
		seen[d.Name] = true
	}
	if n := d.NumReplicas; n != nil && !n.Auto {
		if n.N < 0 {
			add("%s.num_replicas: must be >= 0, got %d", where, n.N)
		}
		if d.AutoscalingConfig != nil {
			add("%s: manually setting num_replicas is not allowed when autoscaling_config is provided", where)
		}
	}
	if v := d.MaxOngoingRequests; v != nil && *v <= 0 {
		add("%s.max_ongoing_requests: must be > 0, got %d", where, *v)
	}
	if v := d.MaxQueuedRequests; v != nil && *v != -1 && *v <= 0 {
		add("%s.max_queued_requests: must be -1 (unlimited) or > 0, got %d", where, *v)
	}
	pos := func(name string, v *float64, strict bool) {
		if v == nil {
			return
		}
		if *v < 0 || (strict && *v == 0) {
			cmp := ">= 0"
			if strict {
				cmp = "> 0"
			}
			add("%s.%s: must be %s, got %v", where, name, cmp, *v)
		}
	}
	pos("graceful_shutdown_wait_loop_s", d.GracefulShutdownWaitLoopS, false)
	pos("graceful_shutdown_timeout_s", d.GracefulShutdownTimeoutS, false)
	pos("health_check_period_s", d.HealthCheckPeriodS, true)
	pos("health_check_timeout_s", d.HealthCheckTimeoutS, true)
	if v := d.MaxReplicasPerNode; v != nil {
		if *v < 1 || *v > 100 {
			add("%s.max_replicas_per_node: must be between 1 and 100, got %d", where, *v)
		}
		if len(d.PlacementGroupBundles) > 0 {
			add("%s: max_replicas_per_node cannot be set together with placement_group_bundles", where)
		}
	}
	if len(d.PlacementGroupBundles) > 0 {
		add("%s.placement_group_bundles: not supported by goray serve yet", where)
	}
	switch d.PlacementGroupStrategy {
	case "", "PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD":
	default:
		add("%s.placement_group_strategy: unknown strategy %q", where, d.PlacementGroupStrategy)
	}
	if o := d.RayActorOptions; o != nil {
		pos("ray_actor_options.num_cpus", o.NumCPUs, false)
		pos("ray_actor_options.num_gpus", o.NumGPUs, false)
		pos("ray_actor_options.memory", o.Memory, false)
		for k, v := range o.Resources {
			if v < 0 {
				add("%s.ray_actor_options.resources[%q]: must be >= 0, got %v", where, k, v)
			}
		}
	}
	if a := d.AutoscalingConfig; a != nil {
		if external {
			add("%s.autoscaling_config: not allowed when the application sets external_scaler_enabled", where)
		}
		r := a.Resolve(d.NumReplicas != nil && d.NumReplicas.Auto)
		if r.MinReplicas < 0 {
			add("%s.autoscaling_config.min_replicas: must be >= 0, got %d", where, r.MinReplicas)
		}
		if r.MaxReplicas < 1 {
			add("%s.autoscaling_config.max_replicas: must be >= 1, got %d", where, r.MaxReplicas)
		}
		if r.MaxReplicas < r.MinReplicas {
			add("%s.autoscaling_config: max_replicas (%d) must be >= min_replicas (%d)", where, r.MaxReplicas, r.MinReplicas)
		}
		if i := r.InitialReplicas; i != nil && (*i < r.MinReplicas || *i > r.MaxReplicas) {
			add("%s.autoscaling_config.initial_replicas: %d must be between min_replicas (%d) and max_replicas (%d)", where, *i, r.MinReplicas, r.MaxReplicas)
		}
		if r.TargetOngoingRequests <= 0 {
			add("%s.autoscaling_config.target_ongoing_requests: must be > 0, got %v", where, r.TargetOngoingRequests)
		}
		pos("autoscaling_config.upscale_delay_s", a.UpscaleDelayS, false)
		pos("autoscaling_config.downscale_delay_s", a.DownscaleDelayS, false)
		pos("autoscaling_config.look_back_period_s", a.LookBackPeriodS, true)
		pos("autoscaling_config.upscaling_factor", a.UpscalingFactor, true)
		pos("autoscaling_config.downscaling_factor", a.DownscalingFactor, true)
	}
}
