package schema

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// FuzzServeConfig decodes a PUT /api/serve/applications/ body and validates
// it. Properties: no panic; the outcome and its message depend only on the
// input, and the message stays short; an accepted config keeps every
// documented limit (restated here), resolves to replica counts and
// durations within them, and survives a JSON round trip unchanged and
// accepted.
func FuzzServeConfig(f *testing.F) {
	for _, s := range []string{
		`{"applications":[]}`,
		`{"applications":[{"name":"app1","route_prefix":"/","import_path":"hello","runtime_env":{"binary":"goray-examples"},"deployments":[{"name":"Hello","num_replicas":2,"user_config":{"message":"hi"},"ray_actor_options":{"num_cpus":0.5,"resources":{"TPU":1}}}]}]}`,
		`{"proxy_location":"HeadOnly","http_options":{"host":"0.0.0.0","port":8000},"target_capacity":50,"applications":[{"name":"a","import_path":"x","deployments":[{"name":"D","num_replicas":"auto","autoscaling_config":{"min_replicas":0,"max_replicas":5,"initial_replicas":1,"target_ongoing_requests":1.5,"upscale_delay_s":0,"downscale_to_zero_delay_s":30,"upscaling_factor":2}}]}]}`,
		`{"applications":[{"name":"a","import_path":"x","deployments":[{"name":"D","num_replicas":1001}]}]}`,
		`{"applications":[{"name":"a","import_path":"x","deployments":[{"name":"D","health_check_period_s":1e308}]}]}`,
		`{"applications":[{"name":"a\nb","route_prefix":"/x/","import_path":""}]}`,
		`{"applications":[{"name":"a","import_path":"x","runtime_env":{"binary":5}}]}`,
		`{"applications":[{"name":"a","import_path":"x","args":{"k":[1,2.5,null,"<&>"]},"external_scaler_enabled":true,"deployments":[{"name":"D","autoscaling_config":{}}]}]}`,
		`{"applications":[{"name":"a","import_path":"x","deployments":[{"name":"D","user_config":null,"max_queued_requests":-1,"max_ongoing_requests":1}]}]}`,
		`{"grpc_options":{"port":9000,"grpc_servicer_functions":["greeterpb.RegisterGreeterServer"],"request_timeout_s":5},"applications":[]}`,
		`{"grpc_options":{"port":1e9,"grpc_servicer_functions":[7],"x":null},"applications":[]}`,
		`{"applications":[], "bogus": 1}`,
		`{"Applications":[]}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 64<<10 {
			return // the limits at sizes beyond are the unit tests'; small inputs minimize fast
		}
		s, err := Decode(body)
		if err != nil {
			return
		}
		verr := Validate(s)
		if verr2 := Validate(s); (verr == nil) != (verr2 == nil) || verr != nil && verr.Error() != verr2.Error() {
			t.Fatalf("not deterministic: %v / %v", verr, verr2)
		}
		if verr != nil {
			if !IsValidationError(verr) {
				t.Fatalf("%T is not a ValidationError", verr)
			}
			if len(verr.Error()) > 64<<10 {
				t.Fatalf("a %d-byte message", len(verr.Error()))
			}
			return
		}
		checkConfigLimits(t, s)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(b)
		if err != nil {
			t.Fatalf("re-encoded it does not decode: %v\n%s", err, b)
		}
		if err := Validate(back); err != nil {
			t.Fatalf("re-encoded it is refused: %v", err)
		}
		b2, _ := json.Marshal(back)
		if !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed it:\n%s\n%s", b, b2)
		}
	})
}

// checkConfigLimits restates the documented limits (docs/compatibility.md).
func checkConfigLimits(t *testing.T, s *ServeDeploySchema) {
	t.Helper()
	if len(s.Applications) > MaxApplications {
		t.Fatalf("%d applications accepted", len(s.Applications))
	}
	if tc := s.TargetCapacity; tc != nil && (*tc < 0 || *tc > 100) {
		t.Fatalf("target_capacity %v accepted", *tc)
	}
	g, gp := s.GRPC()
	if len(gp) > 0 || g.Port < 0 || g.Port > 65535 || len(g.GRPCServicerFunctions) > MaxGRPCServicerFunctions || g.RequestTimeoutS < 0 || g.RequestTimeoutS > MaxDurationS {
		t.Fatalf("grpc_options %+v accepted (%v)", g, gp)
	}
	for _, f := range g.GRPCServicerFunctions {
		if f == "" || len(f) > MaxServicerFunctionBytes {
			t.Fatalf("servicer function of %d bytes accepted", len(f))
		}
	}
	control := func(s string) bool {
		return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
	}
	names, routes := map[string]bool{}, map[string]bool{}
	for _, a := range s.Applications {
		if strings.TrimSpace(a.Name) == "" || len(a.Name) > MaxNameBytes || control(a.Name) || names[a.Name] {
			t.Fatalf("application name %q accepted", a.Name)
		}
		names[a.Name] = true
		rp := a.Route()
		if !strings.HasPrefix(rp, "/") || len(rp) > MaxRoutePrefixBytes || (rp != "/" && strings.HasSuffix(rp, "/")) || routes[rp] {
			t.Fatalf("route_prefix %q accepted", rp)
		}
		routes[rp] = true
		if strings.TrimSpace(a.ImportPath) == "" || len(a.ImportPath) > MaxImportPathBytes {
			t.Fatalf("import_path of %d bytes accepted", len(a.ImportPath))
		}
		if b, ok := a.RuntimeEnv["binary"]; ok {
			if bs, isStr := b.(string); !isStr || len(bs) > MaxBinaryBytes || strings.ContainsRune(bs, 0) {
				t.Fatalf("runtime_env.binary %v accepted", b)
			}
		}
		if ab, _ := json.Marshal(a.Args); len(a.Args) > 0 && len(ab) > MaxArgsBytes {
			t.Fatalf("args of %d bytes accepted", len(ab))
		}
		if len(a.Deployments) > MaxDeploymentsPerApplication {
			t.Fatalf("%d deployments accepted", len(a.Deployments))
		}
		for _, d := range a.Deployments {
			checkDeploymentLimits(t, d, control)
		}
	}
}

func checkDeploymentLimits(t *testing.T, d DeploymentSchema, control func(string) bool) {
	t.Helper()
	if d.Name == "" || len(d.Name) > MaxNameBytes || control(d.Name) {
		t.Fatalf("deployment name %q accepted", d.Name)
	}
	if n := d.NumReplicas; n != nil && !n.Auto && (n.N < 0 || n.N > MaxReplicasPerDeployment) {
		t.Fatalf("num_replicas %d accepted", n.N)
	}
	if len(d.UserConfig) > MaxUserConfigBytes {
		t.Fatalf("user_config of %d bytes accepted", len(d.UserConfig))
	}
	r := Resolve(d)
	if n := ReplicaUpperBound(r); n < 0 || n > MaxReplicasPerDeployment {
		t.Fatalf("resolves to up to %d replicas", n)
	}
	for name, v := range map[string]float64{"graceful_shutdown_wait_loop_s": r.GracefulShutdownWaitLoopS,
		"graceful_shutdown_timeout_s": r.GracefulShutdownTimeoutS, "health_check_period_s": r.HealthCheckPeriodS,
		"health_check_timeout_s": r.HealthCheckTimeoutS} {
		if math.IsNaN(v) || v < 0 || v > MaxDurationS {
			t.Fatalf("%s = %v accepted", name, v)
		}
	}
	for k, v := range r.Resources {
		limit := MaxResourceQuantity
		if k == "memory" {
			limit = MaxMemoryBytes
		}
		if math.IsNaN(v) || v < 0 || v > limit {
			t.Fatalf("resource %q = %v accepted", k, v)
		}
	}
	if a := r.Autoscaling; a != nil {
		if a.MinReplicas < 0 || a.MaxReplicas < 1 || a.MaxReplicas < a.MinReplicas || a.MaxReplicas > MaxReplicasPerDeployment {
			t.Fatalf("autoscaling %d..%d accepted", a.MinReplicas, a.MaxReplicas)
		}
		if a.TargetOngoingRequests < MinTargetOngoingRequests || a.TargetOngoingRequests > MaxDurationS {
			t.Fatalf("target_ongoing_requests %v accepted", a.TargetOngoingRequests)
		}
		for _, v := range []float64{a.LookBackPeriodS, a.UpscaleDelayS, a.DownscaleDelayS} {
			if math.IsNaN(v) || v < 0 || v > MaxDurationS {
				t.Fatalf("autoscaling duration %v accepted", v)
			}
		}
		for _, f := range []*float64{a.UpscalingFactor, a.DownscalingFactor} {
			if f != nil && (!(*f > 0) || *f > MaxScalingFactor) {
				t.Fatalf("scaling factor %v accepted", *f)
			}
		}
		if z := a.DownscaleToZeroDelayS; z != nil && (!(*z >= 0) || *z > MaxDurationS) {
			t.Fatalf("downscale_to_zero_delay_s %v accepted", *z)
		}
	}
}

// FuzzDecodeTrafficSplit: whatever the body of PUT /api/serve/traffic_split/,
// DecodeTrafficSplit answers without panicking, and what it accepts is a
// percent in 0..100 with a bare http(s) base URL (or none at 0) that
// decodes to itself again.
func FuzzDecodeTrafficSplit(f *testing.F) {
	for _, s := range []string{`{"target_url":"http://svc:8000","percent":30}`, `{"target_url":"","percent":0}`,
		`{"percent":101}`, `{"target_url":"http://u:p@h:1"}`, `{"target_url":"ftp://h"}`, `{} {}`, `{"x":1}`, `[`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeTrafficSplit(b)
		if err != nil {
			return
		}
		if s.Percent < 0 || s.Percent > 100 || (s.TargetURL == "" && s.Percent != 0) {
			t.Fatalf("accepted %+v", s)
		}
		if s.TargetURL != "" && !strings.HasPrefix(s.TargetURL, "http://") && !strings.HasPrefix(s.TargetURL, "https://") {
			t.Fatalf("accepted target %q", s.TargetURL)
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if s2, err := DecodeTrafficSplit(again); err != nil || s2 != s {
			t.Fatalf("%+v does not decode to itself: %+v, %v", s, s2, err)
		}
	})
}
