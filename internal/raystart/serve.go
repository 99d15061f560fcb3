package raystart

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Serve ports of `goray start`: --serve-port and --serve-grpc-port default
// to Ray's HTTP (8000) and gRPC (9000) proxy ports.
const (
	DefaultServePort     = 8000
	DefaultServeGRPCPort = 9000
)

// ServePortName is the name of the Ray container's port that KubeRay's
// serve Service targets (ray-service.different-port.yaml moves it to 9000).
const ServePortName = "serve"

// ContainerServePort is the number of c's TCP port named serve, and false
// when it has none (c may be nil).
func ContainerServePort(c *corev1.Container) (int32, bool) {
	if c == nil {
		return 0, false
	}
	for _, p := range c.Ports {
		if p.Name == ServePortName && p.ContainerPort > 0 && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// withServePort sets serve-port from c's port named serve when params do
// not give it: a KubeRay user moves Serve's port by moving that container
// port, and the node's HTTP proxy must listen where the serve Service sends
// traffic.
func withServePort(p map[string]string, c *corev1.Container) {
	if _, ok := p["serve-port"]; ok {
		return
	}
	if port, ok := ContainerServePort(c); ok {
		p["serve-port"] = strconv.Itoa(int(port))
	}
}

// ServePort is the port the node's serve HTTP proxy listens on with these
// parameters: serve-port, or 8000 when it is not given or cannot be read
// here (a reference to the pod's environment; validation refuses the rest).
// 0 means the proxy is off.
func ServePort(params map[string]string) int32 {
	if p, ok, err := Port(params, "serve-port"); ok && err == nil {
		return p
	}
	return DefaultServePort
}

// CheckServePorts refuses a serve-grpc-port that is also the node's HTTP
// serve port (ServePort of the same parameters): `goray start` cannot run
// both proxies on one port and refuses to start. A gRPC port left to its
// default of 9000 is not checked: `goray start` turns its gRPC proxy off
// when the HTTP proxy takes 9000. Pass the parameters the node starts with
// (WithContainer's, with serve-port from the container).
func CheckServePorts(params map[string]string) error {
	// A port known inside the pod only, or one Validate refuses, is not
	// compared here.
	grpc, grpcOK, grpcErr := Port(params, "serve-grpc-port")
	_, _, httpErr := Port(params, "serve-port")
	if grpcOK && grpcErr == nil && httpErr == nil && grpc > 0 && ServePort(params) == grpc {
		return &Error{Key: "serve-grpc-port", Value: params["serve-grpc-port"],
			Reason: "is also the serve HTTP proxy's port (serve-port, or the Ray container's port named serve): give the gRPC proxy another port, or 0 for none"}
	}
	return nil
}
