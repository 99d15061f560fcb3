package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/metrics"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve"
	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
	"github.com/goray-dev/goray/runtime/serve/proxy"
)

// gathered is the metrics of the last proxy grpcProxyWith started.
var gathered prometheus.Gatherer

// grpcRequests counts ray_serve_num_grpc_requests_total by its labels
// "application method status_code".
func grpcRequests(t *testing.T) map[string]float64 {
	t.Helper()
	fams, err := gathered.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "ray_serve_num_grpc_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			out[l["application"]+" "+l["method"]+" "+l["status_code"]] += m.GetCounter().GetValue()
		}
	}
	return out
}

// echoDesc is a hand-written bidirectional service on raw bytes: each
// message comes back with "echo: " before it.
var echoDesc = grpc.ServiceDesc{ServiceName: "test.Echo", Streams: []grpc.StreamDesc{{StreamName: "Chat", ServerStreams: true, ClientStreams: true,
	Handler: func(_ any, ss grpc.ServerStream) error {
		for {
			var m []byte
			if err := ss.RecvMsg(&m); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return err
			}
			out := append([]byte("echo: "), m...)
			if err := ss.SendMsg(out); err != nil {
				return err
			}
		}
	}}}}

// grpcProxy starts a replica serving the health service and echoDesc, and
// a proxy whose gRPC port routes application "app" to it and requires
// token ("" for none). It returns a client connection to the gRPC port.
func grpcProxy(t testing.TB, token string, gc routes.GRPCConfig) *grpc.ClientConn {
	t.Helper()
	conn, _, _ := grpcProxyWith(t, token, gc)
	return conn
}

// grpcProxyWith is grpcProxy that also returns the proxy and the lengths
// of the request bodies the replica got, in order (-1: streamed).
func grpcProxyWith(t testing.TB, token string, gc routes.GRPCConfig) (*grpc.ClientConn, *proxy.Proxy, func() []int64) {
	t.Helper()
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := serve.NewGRPCServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	gs.RegisterService(&echoDesc, nil)
	var mu sync.Mutex
	var lengths []int64
	rs := &hop.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lengths = append(lengths, r.ContentLength)
		mu.Unlock()
		gs.ServeHTTP(w, r)
	})}
	go rs.Serve(rl)
	t.Cleanup(rs.Close)
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry("session_test")
	gathered = reg.Gatherer()
	p, srv := proxy.NewTestGRPCProxy(proxy.Config{Logger: log.New(io.Discard, "", 0), Auth: auth.NewToken(token), GRPCListener: gl,
		GRPCMetrics: metrics.NewGRPCProxy(reg.Registerer(), "node1", "127.0.0.1")},
		&routes.Table{GRPC: gc, Apps: []routes.App{{Name: "app", RoutePrefix: "/", Ingress: "D",
			Deployments: map[string]routes.Deployment{"D": {MaxOngoing: 100, Replicas: []routes.Replica{{ID: "r1", Address: rl.Addr().String()}}}}}}})
	go srv.Serve(gl)
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, p, func() []int64 {
		mu.Lock()
		defer mu.Unlock()
		return append([]int64(nil), lengths...)
	}
}

func TestGRPCProxyCalls(t *testing.T) {
	conn := grpcProxy(t, "", routes.GRPCConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	var trailer metadata.MD
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check through the proxy: %v %v", resp, err)
	}
	if len(trailer.Get(proxy.RequestIDKey)) != 1 || len(trailer.Get(proxy.RequestIDKey)[0]) != 32 {
		t.Errorf("trailer %v: want a request_id", trailer)
	}
	// The client's request_id is kept; the method's own status passes.
	_, err = hc.Check(metadata.AppendToOutgoingContext(ctx, proxy.RequestIDKey, "mine", proxy.ApplicationKey, "app"),
		&healthpb.HealthCheckRequest{Service: "unknown"}, grpc.Trailer(&trailer))
	if grpcstatus.Code(err) != codes.NotFound || trailer.Get(proxy.RequestIDKey)[0] != "mine" {
		t.Errorf("Check of an unknown service name: %v, trailer %v", err, trailer)
	}
	// Server streaming: Watch's first message arrives while the call stays open.
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := w.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v %v", m, err)
	}
	// Bidirectional, ping-pong: each answer arrives before the next message is sent.
	chat, err := conn.NewStream(ctx, &echoDesc.Streams[0], "/test.Echo/Chat", grpc.ForceCodecV2(proxy.RawCodec{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"one", "two"} {
		b := []byte(m)
		if err := chat.SendMsg(&b); err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := chat.RecvMsg(&got); err != nil || string(got) != "echo: "+m {
			t.Fatalf("chat %s: %q %v", m, got, err)
		}
	}
	if err := chat.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var rest []byte
	if err := chat.RecvMsg(&rest); !errors.Is(err, io.EOF) {
		t.Errorf("chat after CloseSend: %v, want io.EOF", err)
	}
	// Unknown method (the replica's answer), unknown application (the proxy's).
	err = conn.Invoke(ctx, "/grpc.health.v1.Health/Nope", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if grpcstatus.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: %v, want Unimplemented", err)
	}
	_, err = hc.Check(metadata.AppendToOutgoingContext(ctx, proxy.ApplicationKey, "nope"), &healthpb.HealthCheckRequest{})
	if grpcstatus.Code(err) != codes.NotFound {
		t.Errorf("unknown application: %v, want NotFound", err)
	}
	api := rpcpb.NewRayServeAPIServiceClient(conn)
	if r, err := api.Healthz(ctx, &rpcpb.HealthzRequest{}); err != nil || r.Message != "success" {
		t.Errorf("Healthz: %v %v", r, err)
	}
	if r, err := api.ListApplications(ctx, &rpcpb.ListApplicationsRequest{}); err != nil || len(r.ApplicationNames) != 1 || r.ApplicationNames[0] != "app" {
		t.Errorf("ListApplications: %v %v", r, err)
	}
	// Ray's call metrics; a method no application has is "OTHER".
	cancel() // ends Watch, so that every call has been recorded
	end := time.Now().Add(5 * time.Second)
	want := map[string]float64{
		"app /grpc.health.v1.Health/Check StatusCode.OK":                1,
		"app /grpc.health.v1.Health/Check StatusCode.NOT_FOUND":         1,
		"app /grpc.health.v1.Health/Watch StatusCode.CANCELLED":         1,
		"app /test.Echo/Chat StatusCode.OK":                             1,
		"app OTHER StatusCode.UNIMPLEMENTED":                            1,
		" OTHER StatusCode.NOT_FOUND":                                   1,
		" /ray.serve.RayServeAPIService/Healthz StatusCode.OK":          1,
		" /ray.serve.RayServeAPIService/ListApplications StatusCode.OK": 1,
	}
	for {
		got := grpcRequests(t)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("ray_serve_num_grpc_requests_total = %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A method the replica said takes one message gets it in the request's
// frame from the second call on; a method of many always streams; a method
// that became one of many (a new deployment) is sent again as a stream.
func TestGRPCProxyOneMessageInline(t *testing.T) {
	conn, p, lengths := grpcProxyWith(t, "", routes.GRPCConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	for range 2 {
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: ""}); err != nil {
			t.Fatal(err)
		}
	}
	chat := func() {
		t.Helper()
		st, err := conn.NewStream(ctx, &echoDesc.Streams[0], "/test.Echo/Chat", grpc.ForceCodecV2(proxy.RawCodec{}))
		if err != nil {
			t.Fatal(err)
		}
		b := []byte("hi")
		if err := st.SendMsg(&b); err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := st.RecvMsg(&got); err != nil || string(got) != "echo: hi" {
			t.Fatalf("chat: %q %v", got, err)
		}
		_ = st.CloseSend()
		if err := st.RecvMsg(&got); !errors.Is(err, io.EOF) {
			t.Fatalf("chat end: %v", err)
		}
	}
	chat()
	chat()
	// As if Chat had been a unary method before: the replica refuses the
	// one message unrun, the proxy streams the call.
	p.LearnKind("app\x00/test.Echo/Chat", "one")
	chat()
	got := lengths()
	// Check streamed, then inline (5 bytes of frame for the empty
	// request); Chat streamed twice; then the refused inline attempt and
	// the stream.
	want := []int64{-1, 5, -1, -1, 7, -1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("request body lengths = %v, want %v", got, want)
	}
	if p.IsOneKind("app\x00/test.Echo/Chat") || !p.IsOneKind("app\x00/grpc.health.v1.Health/Check") {
		t.Errorf("kinds = %v", p.Kinds())
	}
}

// With the cluster's token required, every call but Healthz needs it.
func TestGRPCProxyToken(t *testing.T) {
	conn := grpcProxy(t, "secret", routes.GRPCConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	api := rpcpb.NewRayServeAPIServiceClient(conn)
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); grpcstatus.Code(err) != codes.Unauthenticated {
		t.Errorf("Check without the token: %v", err)
	}
	if _, err := api.ListApplications(ctx, &rpcpb.ListApplicationsRequest{}); grpcstatus.Code(err) != codes.Unauthenticated {
		t.Errorf("ListApplications without the token: %v", err)
	}
	if _, err := api.Healthz(ctx, &rpcpb.HealthzRequest{}); err != nil {
		t.Errorf("Healthz without the token: %v", err)
	}
	bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer wrong")
	if _, err := hc.Check(bad, &healthpb.HealthCheckRequest{}); grpcstatus.Code(err) != codes.Unauthenticated {
		t.Errorf("Check with a wrong token: %v", err)
	}
	for _, key := range []string{"authorization", "x-ray-authorization"} {
		ok := metadata.AppendToOutgoingContext(ctx, key, "Bearer secret")
		if _, err := hc.Check(ok, &healthpb.HealthCheckRequest{}); err != nil {
			t.Errorf("Check with the token in %s: %v", key, err)
		}
	}
}

// request_timeout_s ends a call that runs longer: DEADLINE_EXCEEDED.
func TestGRPCProxyRequestTimeout(t *testing.T) {
	conn := grpcProxy(t, "", routes.GRPCConfig{RequestTimeoutS: 0.2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	_, err = w.Recv()
	if st := grpcstatus.Convert(err); st.Code() != codes.DeadlineExceeded || st.Message() != "Request timed out after 0.2s." {
		t.Errorf("Watch past request_timeout_s: %v", err)
	}
}

// A service grpc_servicer_functions does not list is Unimplemented at the proxy.
func TestGRPCProxyServicerFunctions(t *testing.T) {
	conn := grpcProxy(t, "", routes.GRPCConfig{ServicerFunctions: []string{"health_pb2_grpc.add_HealthServicer_to_server"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("a listed service: %v", err)
	}
	b := []byte("x")
	if err := conn.Invoke(ctx, "/test.Echo/Chat", &b, &b, grpc.ForceCodecV2(proxy.RawCodec{})); grpcstatus.Code(err) != codes.Unimplemented {
		t.Errorf("an unlisted service: %v, want Unimplemented", err)
	}
}

// BenchmarkGRPCProxyUnary is a unary call through the gRPC proxy to a
// replica on loopback, one client at a time.
func BenchmarkGRPCProxyUnary(b *testing.B) {
	conn := grpcProxy(b, "", routes.GRPCConfig{})
	hc := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	for b.Loop() {
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGRPCDirectUnary is BenchmarkGRPCProxyUnary's floor: the same
// call straight to a grpc.Server on loopback.
func BenchmarkGRPCDirectUnary(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	go s.Serve(l)
	b.Cleanup(s.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	hc := healthpb.NewHealthClient(conn)
	ctx := context.Background()
	for b.Loop() {
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			b.Fatal(err)
		}
	}
}
