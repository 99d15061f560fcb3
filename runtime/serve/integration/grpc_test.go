package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/goray-dev/goray/examples/greeter/greeterpb"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func grpcConn(t *testing.T, ip string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(net.JoinHostPort(ip, strconv.Itoa(grpcPort)), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Issue 22's gRPC acceptance: examples/serve/greeter.yaml deploys
// examples/greeter with the CLI, and a gRPC client calls it through either
// node's serve gRPC proxy — unary and server streaming — with Ray's
// statuses for an unknown application (NOT_FOUND) and an unknown method or
// service (UNIMPLEMENTED), and Ray's RayServeAPIService.
func TestGRPCIngress(t *testing.T) {
	out, err := goray("serve", "deploy", "../../../examples/serve/greeter.yaml", "--address", dashboard)
	if err != nil {
		t.Fatalf("goray serve deploy examples/serve/greeter.yaml: %v\n%s", err, out)
	}
	t.Cleanup(func() { shutdown(t) })
	d := waitFor(t, "greeter RUNNING", appRunning("greeter"))
	if g := d.GRPCOptions; fmt.Sprint(g["port"]) != "9000" || fmt.Sprint(g["grpc_servicer_functions"]) != "[greeterpb.RegisterGreeterServer]" {
		t.Errorf("status grpc_options = %v, want the config's", g)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	for _, ip := range []string{headIP, workerIP} {
		conn := grpcConn(t, ip)
		gc := greeterpb.NewGreeterClient(conn)
		// The only application takes calls without the metadata key, and
		// with it; the two replicas both answer.
		replicas := map[string]bool{}
		for i := 0; i < 40 && len(replicas) < 2; i++ {
			var header, trailer metadata.MD
			cctx := ctx
			if i%2 == 1 {
				cctx = metadata.AppendToOutgoingContext(ctx, "application", "greeter")
			}
			r, err := gc.SayHello(cctx, &greeterpb.HelloRequest{Name: "Ray"}, grpc.Header(&header), grpc.Trailer(&trailer))
			if err != nil || r.GetMessage() != "Hello, Ray!" {
				t.Fatalf("proxy %s SayHello: %v %v", ip, r, err)
			}
			if len(header.Get("replica")) != 1 || len(trailer.Get("request_id")) != 1 {
				t.Fatalf("proxy %s SayHello: header %v, trailer %v", ip, header, trailer)
			}
			replicas[header.Get("replica")[0]] = true
		}
		if len(replicas) != 2 {
			t.Errorf("proxy %s: calls reached replicas %v, want both", ip, replicas)
		}
		// The method's own status reaches the client.
		if _, err := gc.SayHello(ctx, &greeterpb.HelloRequest{}); grpcstatus.Code(err) != codes.InvalidArgument {
			t.Errorf("proxy %s SayHello with no name: %v, want InvalidArgument", ip, err)
		}
		// Server streaming: each greeting arrives as its own message.
		st, err := gc.SayHelloStream(ctx, &greeterpb.HelloStreamRequest{Name: "Ray", Count: 3, IntervalMs: 10})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			m, err := st.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("proxy %s SayHelloStream: %v", ip, err)
			}
			got = append(got, m.GetMessage())
		}
		if strings.Join(got, "|") != "Hello, Ray! (1)|Hello, Ray! (2)|Hello, Ray! (3)" {
			t.Errorf("proxy %s SayHelloStream: %q", ip, got)
		}
		// Unknown application, unknown method, a service grpc_servicer_functions does not list.
		_, err = gc.SayHello(metadata.AppendToOutgoingContext(ctx, "application", "nope"), &greeterpb.HelloRequest{Name: "Ray"})
		if s := grpcstatus.Convert(err); s.Code() != codes.NotFound || !strings.Contains(s.Message(), "Application 'nope' not found.") {
			t.Errorf("proxy %s, unknown application: %v", ip, err)
		}
		err = conn.Invoke(ctx, "/goray.examples.greeter.Greeter/SayGoodbye", &greeterpb.HelloRequest{Name: "Ray"}, &greeterpb.HelloReply{})
		if s := grpcstatus.Convert(err); s.Code() != codes.Unimplemented || !strings.Contains(s.Message(), "unknown method SayGoodbye") {
			t.Errorf("proxy %s, unknown method: %v", ip, err)
		}
		err = conn.Invoke(ctx, "/other.Greeter/SayHello", &greeterpb.HelloRequest{Name: "Ray"}, &greeterpb.HelloReply{})
		if grpcstatus.Code(err) != codes.Unimplemented {
			t.Errorf("proxy %s, unlisted service: %v, want Unimplemented", ip, err)
		}
		// Ray's own service.
		api := rpcpb.NewRayServeAPIServiceClient(conn)
		if r, err := api.Healthz(ctx, &rpcpb.HealthzRequest{}); err != nil || r.GetMessage() != "success" {
			t.Errorf("proxy %s Healthz: %v %v", ip, r, err)
		}
		if r, err := api.ListApplications(ctx, &rpcpb.ListApplicationsRequest{}); err != nil || fmt.Sprint(r.GetApplicationNames()) != "[greeter]" {
			t.Errorf("proxy %s ListApplications: %v %v", ip, r, err)
		}
	}
	// The same deployment over HTTP, through the HTTP proxy.
	if code, body := get(t, proxyURL(workerIP, "/greeter?name=Ray")); code != 200 || strings.TrimSpace(body) != "Hello, Ray!" {
		t.Errorf("GET /greeter: %d %q", code, body)
	}
	// A new user_config reaches the running replicas in place.
	cfg, err := os.ReadFile("../../../examples/serve/greeter.yaml")
	if err != nil {
		t.Fatal(err)
	}
	deploy(t, strings.Replace(string(cfg), "{greeting: Hello}", "{greeting: Howdy}", 1))
	gc := greeterpb.NewGreeterClient(grpcConn(t, workerIP))
	end := time.Now().Add(deadline)
	for {
		r, err := gc.SayHello(ctx, &greeterpb.HelloRequest{Name: "Ray"})
		if err == nil && r.GetMessage() == "Howdy, Ray!" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("after the new user_config: %v %v", r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Once the application is gone, calls are NOT_FOUND.
	shutdown(t)
	end = time.Now().Add(deadline)
	for {
		_, err := gc.SayHello(ctx, &greeterpb.HelloRequest{Name: "Ray"})
		if s := grpcstatus.Convert(err); s.Code() == codes.NotFound && strings.Contains(s.Message(), "Application metadata not set.") {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("after shutdown: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
