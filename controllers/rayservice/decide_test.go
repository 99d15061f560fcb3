package rayservice

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestServePortMismatch(t *testing.T) {
	serve := func(n int32) []corev1.ContainerPort { return []corev1.ContainerPort{{Name: "serve", ContainerPort: n}} }
	for _, tc := range []struct {
		name   string
		config string
		ports  []corev1.ContainerPort
		params map[string]string
		want   string // a part of the message, "" for none
	}{
		{name: "no http_options", config: "applications: []\n"},
		{name: "no port", config: "http_options:\n  root_path: /x\n"},
		{name: "not YAML (validate reports it)", config: "http_options: [\n"},
		{name: "default port", config: "http_options:\n  port: 8000\n"},
		{name: "different-port sample", config: "http_options:\n  port: 9000\n", ports: serve(9000)},
		{name: "container port not moved", config: "http_options:\n  port: 9000\n",
			want: "http_options.port is 9000 but the serve Service sends traffic to port 8000"},
		{name: "config not moved", config: "http_options:\n  port: 8000\n", ports: serve(9000),
			want: "http_options.port is 8000 but the serve Service sends traffic to port 9000"},
		{name: "serve-port wins over the container", config: "http_options:\n  port: 9000\n", ports: serve(9000),
			params: map[string]string{"serve-port": "9100"}, want: "http_options.port is 9000 but the head's serve proxy listens on 9100"},
		{name: "serve-port alone agrees", config: "http_options:\n  port: 9100\n", params: map[string]string{"serve-port": "9100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := &rayv1.RayService{Spec: rayv1.RayServiceSpec{ServeConfigV2: tc.config, RayClusterSpec: rayv1.RayClusterSpec{
				HeadGroupSpec: rayv1.HeadGroupSpec{RayStartParams: tc.params, Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray-head", Ports: tc.ports}}}}}}}}
			got := servePortMismatch(rs)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want one with %q", got, tc.want)
			}
		})
	}
}
