package proxy

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

func TestRouteGRPC(t *testing.T) {
	one := &routes.Table{Apps: []routes.App{{Name: "app1", Ingress: "Greeter"}}}
	two := &routes.Table{Apps: []routes.App{{Name: "app1"}, {Name: "app2"}}}
	filtered := &routes.Table{Apps: one.Apps, GRPC: routes.GRPCConfig{ServicerFunctions: []string{"greeter_pb2_grpc.add_GreeterServicer_to_server"}}}
	headOnly := &routes.Table{Apps: one.Apps, HTTP: routes.HTTPConfig{Location: routes.HeadOnly}}
	const say = "/helloworld.Greeter/SayHello"
	app := func(name string) metadata.MD { return metadata.Pairs(ApplicationKey, name) }
	for _, tc := range []struct {
		name     string
		t        *routes.Table
		head     bool
		draining bool
		method   string
		md       metadata.MD
		wantCode codes.Code
		wantKind grpcKind
		wantApp  string
	}{
		{name: "the only app without metadata", t: one, method: say, wantApp: "app1"},
		{name: "named app", t: two, method: say, md: app("app2"), wantApp: "app2"},
		{name: "unknown app", t: two, method: say, md: app("nope"), wantCode: codes.NotFound},
		{name: "unknown app with one running", t: one, method: say, md: app("nope"), wantCode: codes.NotFound},
		{name: "no metadata, two apps", t: two, method: say, wantCode: codes.NotFound},
		{name: "no apps", t: &routes.Table{}, method: say, wantCode: codes.NotFound},
		{name: "malformed method", t: one, method: "SayHello", wantCode: codes.Unimplemented},
		{name: "method without service", t: one, method: "/SayHello", wantCode: codes.Unimplemented},
		{name: "listed servicer", t: filtered, method: say, wantApp: "app1"},
		{name: "unlisted service", t: filtered, method: "/other.Service/Do", wantCode: codes.Unimplemented},
		{name: "healthz", t: two, method: HealthzMethod, wantKind: grpcHealthz},
		{name: "healthz with no apps", t: &routes.Table{}, method: HealthzMethod, wantKind: grpcHealthz},
		{name: "healthz draining", t: one, draining: true, method: HealthzMethod, wantCode: codes.Unavailable},
		{name: "list", t: filtered, method: ListApplicationsMethod, wantKind: grpcListApplications},
		{name: "list draining", t: one, draining: true, method: ListApplicationsMethod, wantCode: codes.Unavailable},
		{name: "draining still routes calls", t: one, draining: true, method: say, wantApp: "app1"},
		{name: "HeadOnly on a worker", t: headOnly, method: HealthzMethod, wantCode: codes.Unavailable},
		{name: "HeadOnly on the head", t: headOnly, head: true, method: say, wantApp: "app1"},
		{name: "Disabled", t: &routes.Table{Apps: one.Apps, HTTP: routes.HTTPConfig{Location: routes.Disabled}}, head: true, method: say, wantCode: codes.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := routeGRPC(tc.t, tc.head, tc.draining, tc.method, tc.md)
			if r.err != nil {
				if r.err.Code() != tc.wantCode || tc.wantCode == codes.OK {
					t.Fatalf("status %v %q, want %v", r.err.Code(), r.err.Message(), tc.wantCode)
				}
				return
			}
			if tc.wantCode != codes.OK {
				t.Fatalf("routed (%v %v), want status %v", r.kind, r.app, tc.wantCode)
			}
			if r.kind != tc.wantKind {
				t.Fatalf("kind %v, want %v", r.kind, tc.wantKind)
			}
			if got := ""; r.app != nil {
				got = r.app.Name
				if got != tc.wantApp {
					t.Fatalf("app %q, want %q", got, tc.wantApp)
				}
			} else if tc.wantApp != "" {
				t.Fatalf("no app, want %q", tc.wantApp)
			}
		})
	}
	// Ray's messages, which clients and docs quote.
	if r := routeGRPC(two, false, false, say, nil); r.err.Message() != "Application metadata not set. Ping /ray.serve.RayServeAPIService/ListApplications for available applications." {
		t.Errorf("message: %q", r.err.Message())
	}
	if r := routeGRPC(two, false, false, say, app("x")); r.err.Message() != "Application 'x' not found. Ping /ray.serve.RayServeAPIService/ListApplications for available applications." {
		t.Errorf("message: %q", r.err.Message())
	}
}

func TestServicerServes(t *testing.T) {
	for _, tc := range []struct {
		entry, service string
		want           bool
	}{
		{"helloworld.Greeter", "helloworld.Greeter", true},
		{"helloworld.Greeter", "other.Greeter", false},
		{"user_defined_protos_pb2_grpc.add_UserDefinedServiceServicer_to_server", "userdefinedprotos.UserDefinedService", true},
		{"add_GreeterServicer_to_server", "helloworld.Greeter", true},
		{"greeterpb.RegisterGreeterServer", "goray.examples.greeter.Greeter", true},
		{"greeterpb.RegisterGreeterServer", "goray.examples.greeter.GreeterTwo", false},
		{"pb.add_Servicer_to_server", "a.Servicer", false},
		{"pb.RegisterServer", "a.Server", false},
		{"Greeter", "helloworld.Greeter", false},
	} {
		if got := servicerServes(tc.entry, tc.service); got != tc.want {
			t.Errorf("servicerServes(%q, %q) = %v, want %v", tc.entry, tc.service, got, tc.want)
		}
	}
}
