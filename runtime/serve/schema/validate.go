package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// maxResources bounds ray_actor_options.resources.
const maxResources = 64

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ValidationError lists everything wrong with a config.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	p := e.Problems
	more := ""
	if len(p) > maxProblemsShown {
		p, more = p[:maxProblemsShown], fmt.Sprintf("\n  ... and %d more", len(p)-maxProblemsShown)
	}
	return fmt.Sprintf("%d validation error(s) for ServeDeploySchema:\n  %s%s", len(e.Problems), strings.Join(p, "\n  "), more)
}

// maxProblemsShown bounds the problems a message lists.
const maxProblemsShown = 50

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
		add("proxy_location: must be one of Disabled, HeadOnly, EveryNode, got %s", quoteClip(s.ProxyLocation, 64))
	}
	if tc := s.TargetCapacity; tc != nil && (*tc < 0 || *tc > 100) {
		add("target_capacity: must be between 0 and 100, got %v", *tc)
	}
	if h := s.HTTPOptions; h != nil {
		if h.Port < 0 || h.Port > 65535 {
			add("http_options.port: %d is not a port", h.Port)
		}
		// The proxies mount every route under root_path: a path prefix.
		switch rp := h.RootPath; {
		case rp == "":
		case len(rp) > MaxRoutePrefixBytes:
			add("http_options.root_path: %d bytes, more than the limit of %d", len(rp), MaxRoutePrefixBytes)
		case !strings.HasPrefix(rp, "/") || strings.HasSuffix(rp, "/"):
			add("http_options.root_path: %s must start with '/' and not end with it (or be empty)", quoteClip(rp, 64))
		case strings.ContainsAny(rp, "?#") || strings.IndexFunc(rp, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
			add("http_options.root_path: %s must be a plain path (no query, fragment or control characters)", quoteClip(rp, 64))
		}
		if t := h.RequestTimeoutS; t != nil && !(*t > 0 && *t <= MaxDurationS) {
			add("http_options.request_timeout_s: must be greater than 0 and at most %g, got %v", MaxDurationS, *t)
		}
	}
	if _, gp := s.GRPC(); len(gp) > 0 {
		sort.Strings(gp) // a map's order: the message depends on the input alone
		p = append(p, gp...)
	}
	if n := len(s.Applications); n > MaxApplications {
		add("applications: %d applications, more than the limit of %d", n, MaxApplications)
	}
	names := map[string]bool{}
	routes := map[string]string{}
	for i, a := range s.Applications {
		where := fmt.Sprintf("applications[%d]", i)
		if a.Name != "" {
			where = fmt.Sprintf("applications[%d] (%s)", i, quoteClip(a.Name, 64))
		}
		if strings.TrimSpace(a.Name) == "" {
			add("%s.name: application names must be non-empty", where)
		} else if pr := nameProblem(a.Name); pr != "" {
			add("%s.name: the name %s", where, pr)
		} else if names[a.Name] {
			add("%s.name: application names must be unique, %s appears more than once", where, quoteClip(a.Name, 64))
		}
		names[a.Name] = true
		rp := a.Route()
		switch {
		case len(rp) > MaxRoutePrefixBytes:
			add("%s.route_prefix: %d bytes, more than the limit of %d", where, len(rp), MaxRoutePrefixBytes)
			rp = rp[:MaxRoutePrefixBytes] + "..."
		case !strings.HasPrefix(rp, "/"):
			add("%s.route_prefix: %s must start with '/'", where, quoteClip(rp, 64))
		case rp != "/" && strings.HasSuffix(rp, "/"):
			add("%s.route_prefix: %s must not end with '/' unless it is '/'", where, quoteClip(rp, 64))
		case strings.ContainsAny(rp, "{}"):
			add("%s.route_prefix: %s may not contain wildcards ('{' or '}')", where, quoteClip(rp, 64))
		}
		if other, dup := routes[rp]; dup {
			add("%s.route_prefix: %s is also the route prefix of application %s; route prefixes must be unique", where, quoteClip(rp, 64), quoteClip(other, 64))
		} else {
			routes[rp] = a.Name
		}
		if strings.TrimSpace(a.ImportPath) == "" {
			add("%s.import_path: field required", where)
		} else if len(a.ImportPath) > MaxImportPathBytes {
			add("%s.import_path: %d bytes, more than the limit of %d", where, len(a.ImportPath), MaxImportPathBytes)
		}
		if b, ok := a.RuntimeEnv["binary"]; ok {
			switch bs, isStr := b.(string); {
			case !isStr:
				add("%s.runtime_env.binary: must be a string path", where)
			case len(bs) > MaxBinaryBytes:
				add("%s.runtime_env.binary: %d bytes, more than the limit of %d", where, len(bs), MaxBinaryBytes)
			case strings.ContainsRune(bs, 0):
				add("%s.runtime_env.binary: may not contain NUL", where)
			}
		}
		if len(a.Args) > 0 {
			if b, err := json.Marshal(a.Args); err != nil {
				add("%s.args: %v", where, err)
			} else if len(b) > MaxArgsBytes {
				add("%s.args: %d bytes as JSON, more than the limit of %d", where, len(b), MaxArgsBytes)
			}
		}
		if n := len(a.Deployments); n > MaxDeploymentsPerApplication {
			add("%s.deployments: %d deployments, more than the limit of %d", where, n, MaxDeploymentsPerApplication)
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
		where = fmt.Sprintf("%s (%s)", where, quoteClip(d.Name, 64))
		if pr := nameProblem(d.Name); pr != "" {
			add("%s.name: the name %s", where, pr)
		}
		if seen[d.Name] {
			add("%s.name: deployment %s is listed more than once", where, quoteClip(d.Name, 64))
		}
		seen[d.Name] = true
	}
	if n := d.NumReplicas; n != nil && !n.Auto {
		if n.N < 0 {
			add("%s.num_replicas: must be >= 0, got %d", where, n.N)
		}
		if n.N > MaxReplicasPerDeployment {
			add("%s.num_replicas: %d, more than the limit of %d per deployment", where, n.N, MaxReplicasPerDeployment)
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
	if n := len(d.UserConfig); n > MaxUserConfigBytes {
		add("%s.user_config: %d bytes, more than the limit of %d", where, n, MaxUserConfigBytes)
	}
	// bounded checks a number: >= 0 (> 0 when strict), finite, <= limit.
	bounded := func(name string, v *float64, strict bool, limit float64) {
		if v == nil {
			return
		}
		if !finite(*v) || *v < 0 || (strict && *v == 0) {
			cmp := ">= 0"
			if strict {
				cmp = "> 0"
			}
			add("%s.%s: must be %s, got %v", where, name, cmp, *v)
		} else if *v > limit {
			add("%s.%s: %v, more than the limit of %g", where, name, *v, limit)
		}
	}
	dur := func(name string, v *float64, strict bool) { bounded(name, v, strict, MaxDurationS) }
	dur("graceful_shutdown_wait_loop_s", d.GracefulShutdownWaitLoopS, false)
	dur("graceful_shutdown_timeout_s", d.GracefulShutdownTimeoutS, false)
	dur("health_check_period_s", d.HealthCheckPeriodS, true)
	dur("health_check_timeout_s", d.HealthCheckTimeoutS, true)
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
		add("%s.placement_group_strategy: unknown strategy %s", where, quoteClip(d.PlacementGroupStrategy, 64))
	}
	if o := d.RayActorOptions; o != nil {
		bounded("ray_actor_options.num_cpus", o.NumCPUs, false, MaxResourceQuantity)
		bounded("ray_actor_options.num_gpus", o.NumGPUs, false, MaxResourceQuantity)
		bounded("ray_actor_options.memory", o.Memory, false, MaxMemoryBytes)
		if len(o.Resources) > maxResources {
			add("%s.ray_actor_options.resources: %d resources, more than the limit of %d", where, len(o.Resources), maxResources)
		}
		for _, k := range sortedKeys(o.Resources) {
			v := o.Resources[k]
			if k == "" || nameProblem(k) != "" {
				add("%s.ray_actor_options.resources: the name %s is empty, longer than %d bytes or holds control characters", where, quoteClip(k, 64), MaxNameBytes)
			}
			bounded("ray_actor_options.resources["+quoteClip(k, 64)+"]", &v, false, MaxResourceQuantity)
		}
		if len(o.AcceleratorType) > MaxNameBytes {
			add("%s.ray_actor_options.accelerator_type: %d bytes, more than the limit of %d", where, len(o.AcceleratorType), MaxNameBytes)
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
		for _, c := range []struct {
			name string
			v    *int
		}{{"min_replicas", &r.MinReplicas}, {"max_replicas", &r.MaxReplicas}, {"initial_replicas", r.InitialReplicas}} {
			if c.v != nil && *c.v > MaxReplicasPerDeployment {
				add("%s.autoscaling_config.%s: %d, more than the limit of %d per deployment", where, c.name, *c.v, MaxReplicasPerDeployment)
			}
		}
		if r.TargetOngoingRequests <= 0 {
			add("%s.autoscaling_config.target_ongoing_requests: must be > 0, got %v", where, r.TargetOngoingRequests)
		} else if r.TargetOngoingRequests < MinTargetOngoingRequests || r.TargetOngoingRequests > MaxDurationS {
			add("%s.autoscaling_config.target_ongoing_requests: %v, outside the limits %g to %g", where, r.TargetOngoingRequests,
				MinTargetOngoingRequests, MaxDurationS)
		}
		dur("autoscaling_config.upscale_delay_s", a.UpscaleDelayS, false)
		dur("autoscaling_config.downscale_delay_s", a.DownscaleDelayS, false)
		dur("autoscaling_config.downscale_to_zero_delay_s", a.DownscaleToZeroDelayS, false)
		dur("autoscaling_config.look_back_period_s", a.LookBackPeriodS, true)
		dur("autoscaling_config.metrics_interval_s", a.MetricsIntervalS, true)
		bounded("autoscaling_config.upscaling_factor", a.UpscalingFactor, true, MaxScalingFactor)
		bounded("autoscaling_config.downscaling_factor", a.DownscalingFactor, true, MaxScalingFactor)
		bounded("autoscaling_config.smoothing_factor", a.SmoothingFactor, true, MaxScalingFactor)
		bounded("autoscaling_config.upscale_smoothing_factor", a.UpscaleSmoothingFactor, true, MaxScalingFactor)
		bounded("autoscaling_config.downscale_smoothing_factor", a.DownscaleSmoothingFactor, true, MaxScalingFactor)
	}
}
