package raystart

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestWithContainerServePort(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
		ports  []corev1.ContainerPort
		want   map[string]string
		serve  int32
	}{
		{name: "no ports", want: map[string]string{}, serve: 8000},
		{name: "KubeRay's serve port", ports: []corev1.ContainerPort{{Name: "gcs-server", ContainerPort: 6379}, {Name: "serve", ContainerPort: 9000}},
			want: map[string]string{"serve-port": "9000"}, serve: 9000},
		{name: "TCP given", ports: []corev1.ContainerPort{{Name: "serve", ContainerPort: 9000, Protocol: corev1.ProtocolTCP}},
			want: map[string]string{"serve-port": "9000"}, serve: 9000},
		{name: "UDP is not Serve's", ports: []corev1.ContainerPort{{Name: "serve", ContainerPort: 9000, Protocol: corev1.ProtocolUDP}},
			want: map[string]string{}, serve: 8000},
		{name: "serve-grpc is not the HTTP port", ports: []corev1.ContainerPort{{Name: "serve-grpc", ContainerPort: 9001}},
			want: map[string]string{}, serve: 8000},
		{name: "rayStartParams win", params: map[string]string{"serve-port": `"9100"`}, ports: []corev1.ContainerPort{{Name: "serve", ContainerPort: 9000}},
			want: map[string]string{"serve-port": `"9100"`}, serve: 9100},
		{name: "proxy off", params: map[string]string{"serve-port": "0"}, ports: []corev1.ContainerPort{{Name: "serve", ContainerPort: 9000}},
			want: map[string]string{"serve-port": "0"}, serve: 0},
		{name: "a reference is known in the pod only", params: map[string]string{"serve-port": "$PORT"},
			want: map[string]string{"serve-port": "$PORT"}, serve: 8000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := WithContainer(tc.params, &corev1.Container{Ports: tc.ports})
			if !maps.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if s := ServePort(got); s != tc.serve {
				t.Fatalf("ServePort = %d, want %d", s, tc.serve)
			}
		})
	}
}

func TestCheckServePorts(t *testing.T) {
	for _, ok := range []map[string]string{
		nil,
		{"serve-port": "9000"}, // gRPC left to its default: goray start turns it off
		{"serve-port": "9000", "serve-grpc-port": "9001"}, // moved
		{"serve-port": "9000", "serve-grpc-port": "0"},    // off
		{"serve-port": "0", "serve-grpc-port": "9000"},
		{"serve-grpc-port": "9000"},
		{"serve-port": "$PORT", "serve-grpc-port": "8000"}, // known in the pod only
		{"serve-port": "9000", "serve-grpc-port": "$GRPC"},
	} {
		if err := CheckServePorts(ok); err != nil {
			t.Errorf("CheckServePorts(%v): %v", ok, err)
		}
	}
	const reason = "is also the serve HTTP proxy's port (serve-port, or the Ray container's port named serve): give the gRPC proxy another port, or 0 for none"
	for _, tc := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{"serve-port": "9000", "serve-grpc-port": "9000"}, `rayStartParams.serve-grpc-port: "9000" ` + reason},
		{map[string]string{"serve-port": "'9000'", "serve-grpc-port": `"9000"`}, `rayStartParams.serve-grpc-port: "\"9000\"" ` + reason},
		{map[string]string{"serve-grpc-port": "8000"}, `rayStartParams.serve-grpc-port: "8000" ` + reason},
	} {
		if err := CheckServePorts(tc.params); err == nil || err.Error() != tc.want {
			t.Errorf("CheckServePorts(%v) = %v, want %s", tc.params, err, tc.want)
		}
	}
}
