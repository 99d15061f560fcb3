package schema

import (
	"fmt"
	"strings"
	"testing"
)

// A config over any documented limit is refused with a message naming the
// field and the limit.
func TestValidateRefusesConfigsOverTheirLimits(t *testing.T) {
	app := func(name, extra string) string {
		return fmt.Sprintf(`{"name":%q,"route_prefix":"/%s","import_path":"hello"%s}`, name, name, extra)
	}
	apps := func(n int, extra string) string {
		var s []string
		for i := range n {
			s = append(s, app(fmt.Sprintf("a%d", i), extra))
		}
		return `{"applications":[` + strings.Join(s, ",") + `]}`
	}
	one := func(extra string) string { return apps(1, extra) }
	for _, tc := range []struct {
		name, config string
		wants        []string
	}{
		{"257 applications", apps(257, ""), []string{"applications", "256"}},
		{"num_replicas 1001", one(`,"deployments":[{"name":"D","num_replicas":1001}]`), []string{"num_replicas", "1000"}},
		{"max_replicas 1001", one(`,"deployments":[{"name":"D","autoscaling_config":{"max_replicas":1001}}]`), []string{"max_replicas", "1000"}},
		{"initial_replicas 5000", one(`,"deployments":[{"name":"D","autoscaling_config":{"max_replicas":10,"initial_replicas":5000}}]`),
			[]string{"initial_replicas"}},
		{"6 MB user_config", one(`,"deployments":[{"name":"D","user_config":{"k":"` + strings.Repeat("u", 6<<20) + `"}}]`),
			[]string{"user_config", "1048576"}},
		{"2 MB args", one(`,"args":{"k":"` + strings.Repeat("a", 2<<20) + `"}`), []string{"args", "1048576"}},
		{"300-byte application name", `{"applications":[` + app(strings.Repeat("n", 300), "") + `]}`, []string{"name", "256"}},
		{"newline in application name", `{"applications":[{"name":"a\nb","import_path":"hello"}]}`, []string{"name", "control"}},
		{"300-byte deployment name", one(`,"deployments":[{"name":"` + strings.Repeat("d", 300) + `"}]`), []string{"name", "256"}},
		{"2000-byte import_path", `{"applications":[{"name":"a","import_path":"` + strings.Repeat("i", 2000) + `"}]}`, []string{"import_path", "1024"}},
		{"2000-byte route_prefix", `{"applications":[{"name":"a","route_prefix":"/` + strings.Repeat("r", 2000) + `","import_path":"hello"}]}`,
			[]string{"route_prefix", "1024"}},
		{"NUL in runtime_env.binary", one(`,"runtime_env":{"binary":"a\u0000b"}`), []string{"runtime_env.binary"}},
		{"5000-byte runtime_env.binary", one(`,"runtime_env":{"binary":"` + strings.Repeat("b", 5000) + `"}`), []string{"runtime_env.binary", "4096"}},
		{"129 deployments", one(`,"deployments":[` + deps(129) + `]`), []string{"deployments", "128"}},
		{"health_check_period_s 1e308", one(`,"deployments":[{"name":"D","health_check_period_s":1e308}]`),
			[]string{"health_check_period_s", "1e+09"}},
		{"downscale_delay_s 1e12", one(`,"deployments":[{"name":"D","autoscaling_config":{"downscale_delay_s":1e12}}]`),
			[]string{"downscale_delay_s", "1e+09"}},
		{"num_cpus 1e308", one(`,"deployments":[{"name":"D","ray_actor_options":{"num_cpus":1e308}}]`), []string{"num_cpus", "1e+06"}},
		{"resources 1e308", one(`,"deployments":[{"name":"D","ray_actor_options":{"resources":{"TPU":1e308}}}]`), []string{"resources", "1e+06"}},
		{"upscaling_factor 1e308", one(`,"deployments":[{"name":"D","autoscaling_config":{"upscaling_factor":1e308}}]`),
			[]string{"upscaling_factor", "1e+06"}},
		{"target_ongoing_requests 1e-300", one(`,"deployments":[{"name":"D","autoscaling_config":{"target_ongoing_requests":1e-300}}]`),
			[]string{"target_ongoing_requests", "0.001"}},
		{"2000-byte root_path", `{"http_options":{"root_path":"/` + strings.Repeat("r", 2000) + `"},"applications":[]}`,
			[]string{"root_path", "1024"}},
		{"root_path without a leading slash", `{"http_options":{"root_path":"serve"},"applications":[]}`, []string{"root_path", "start with '/'"}},
		{"root_path with a trailing slash", `{"http_options":{"root_path":"/serve/"},"applications":[]}`, []string{"root_path", "start with '/'"}},
		{"root_path with a query", `{"http_options":{"root_path":"/serve?x=1"},"applications":[]}`, []string{"root_path", "plain path"}},
		{"root_path with a newline", `{"http_options":{"root_path":"/a\nb"},"applications":[]}`, []string{"root_path", "control"}},
		{"request_timeout_s 0", `{"http_options":{"request_timeout_s":0},"applications":[]}`, []string{"request_timeout_s", "greater than 0"}},
		{"request_timeout_s 1e12", `{"http_options":{"request_timeout_s":1e12},"applications":[]}`, []string{"request_timeout_s", "1e+09"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Decode([]byte(tc.config))
			if err == nil {
				err = Validate(s)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%.300s: does not name %q", err, w)
				}
			}
			if len(err.Error()) > 8192 {
				t.Errorf("the message is %d bytes: it echoes the config", len(err.Error()))
			}
		})
	}
}

func deps(n int) string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf(`{"name":"d%d"}`, i))
	}
	return strings.Join(s, ",")
}

// num_replicas beyond an int is refused when decoded, not converted into
// whatever the platform makes of it.
func TestDecodeRefusesHugeNumReplicas(t *testing.T) {
	for _, v := range []string{"1e300", "-1e300", "9223372036854775808"} {
		_, err := Decode([]byte(`{"applications":[{"name":"a","import_path":"x","deployments":[{"name":"D","num_replicas":` + v + `}]}]}`))
		if err == nil || !strings.Contains(err.Error(), "num_replicas") {
			t.Errorf("num_replicas %s: %v", v, err)
		}
	}
}

// The limits leave room for what real configs hold.
func TestValidateAcceptsConfigsAtTheirLimits(t *testing.T) {
	var apps []string
	for i := range 4 {
		apps = append(apps, fmt.Sprintf(`{"name":"a%d","route_prefix":"/a%d","import_path":"hello","deployments":[{"name":"D","num_replicas":1000,"user_config":{"k":"%s"}}]}`,
			i, i, strings.Repeat("u", 1<<20-20)))
	}
	s, err := Decode([]byte(`{"applications":[` + strings.Join(apps, ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(s); err != nil {
		t.Fatalf("%.500s", err)
	}
}
