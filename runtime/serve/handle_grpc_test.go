package serve

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/router"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

// handleTo is a handle to one replica on loopback serving h.
func handleTo(t *testing.T, h http.Handler) *Handle {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &hop.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(srv.Close)
	r := router.New("")
	r.Update(routes.Deployment{MaxOngoing: 10, Replicas: []routes.Replica{{ID: "r1", Address: l.Addr().String()}}})
	return &Handle{app: "app", deployment: "D", r: r}
}

// chatDesc echoes each message back with "re: " (bidirectional, raw bytes).
var chatDesc = grpc.ServiceDesc{ServiceName: "t.Chat", Streams: []grpc.StreamDesc{{StreamName: "Talk", ServerStreams: true, ClientStreams: true,
	Handler: func(_ any, ss grpc.ServerStream) error {
		if err := ss.SetHeader(metadata.Pairs("h", "v")); err != nil {
			return err
		}
		for {
			var m []byte
			if err := ss.RecvMsg(&m); err != nil {
				if errors.Is(err, io.EOF) {
					ss.SetTrailer(metadata.Pairs("t", "done"))
					return nil
				}
				return err
			}
			if err := ss.SendMsg(append([]byte("re: "), m...)); err != nil {
				return err
			}
		}
	}}}}

// A deployment's gRPC methods called through a handle (Ray's model
// composition): unary with metadata both ways, server streaming,
// bidirectional, statuses.
func TestHandleGRPC(t *testing.T) {
	gs := NewGRPCServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	gs.RegisterService(&chatDesc, nil)
	var seen metadata.MD
	gs.UnaryInterceptor = func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		seen, _ = metadata.FromIncomingContext(ctx)
		_ = grpc.SetTrailer(ctx, metadata.Pairs("t", "1"))
		return h(ctx, req)
	}
	h := handleTo(t, gs)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(h.GRPC())
	var trailer metadata.MD
	r, err := hc.Check(metadata.AppendToOutgoingContext(ctx, "k", "v"), &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
	if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", r, err)
	}
	if seen.Get("k")[0] != "v" || trailer.Get("t")[0] != "1" {
		t.Errorf("metadata in %v, trailer %v", seen, trailer)
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check of an unknown name: %v", err)
	}
	if err := h.GRPC().Invoke(ctx, "/grpc.health.v1.Health/Nope", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: %v", err)
	}
	// Server streaming, cancelled by the caller.
	wctx, wcancel := context.WithCancel(ctx)
	w, err := hc.Watch(wctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := w.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Watch: %v %v", m, err)
	}
	wcancel()
	if _, err := w.Recv(); status.Code(err) != codes.Canceled {
		t.Errorf("Watch after cancel: %v, want Canceled", err)
	}
	// Bidirectional.
	var header metadata.MD
	st, err := h.GRPC().NewStream(ctx, &chatDesc.Streams[0], "/t.Chat/Talk", grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"a", "b"} {
		b := []byte(m)
		if err := st.SendMsg(&b); err != nil {
			t.Fatal(err)
		}
		var got []byte
		if err := st.RecvMsg(&got); err != nil || string(got) != "re: "+m {
			t.Fatalf("talk %s: %q %v", m, got, err)
		}
	}
	if hd, err := st.Header(); err != nil || hd.Get("h")[0] != "v" || header.Get("h")[0] != "v" {
		t.Errorf("header %v %v %v", hd, header, err)
	}
	_ = st.CloseSend()
	var rest []byte
	if err := st.RecvMsg(&rest); !errors.Is(err, io.EOF) || st.Trailer().Get("t")[0] != "done" {
		t.Errorf("talk's end: %v, trailer %v", err, st.Trailer())
	}
	// A deployment that serves no gRPC.
	plain := handleTo(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "hi") }))
	if _, err := healthpb.NewHealthClient(plain.GRPC()).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("a plain HTTP deployment: %v, want Unimplemented", err)
	}
}
