package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/runtime/serve/internal/grpcwire"
)

// callGRPC sends a call to h as the gRPC proxy does and decodes the answer:
// the header metadata, the response messages, the status and the trailer.
func callGRPC(t *testing.T, h http.Handler, method string, md metadata.MD, msgs ...proto.Message) (metadata.MD, [][]byte, *status.Status, metadata.MD) {
	t.Helper()
	var body []byte
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		body = grpcwire.AppendFrame(body, grpcwire.FlagMessage, b)
	}
	req := httptest.NewRequest(http.MethodPost, method, bytes.NewReader(body))
	req.Header.Set(grpcwire.CallHeader, "1")
	grpcwire.PutMetadata(req.Header, md)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != grpcwire.ContentType {
		t.Fatalf("%s: Content-Type %q, body %q", method, ct, rec.Body.String())
	}
	fr := grpcwire.NewFrameReader(rec.Body, 1<<20)
	var out [][]byte
	for {
		flag, p, err := fr.Next()
		if err != nil {
			t.Fatalf("%s: the answer ended without a trailer: %v", method, err)
		}
		if flag == grpcwire.FlagTrailer {
			st, tr, err := grpcwire.DecodeTrailer(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := fr.Next(); !errors.Is(err, io.EOF) {
				t.Fatalf("%s: frames after the trailer (%v)", method, err)
			}
			return grpcwire.Metadata(rec.Header()), out, st, tr
		}
		out = append(out, p)
	}
}

func TestGRPCServerUnaryAndStreaming(t *testing.T) {
	hs := health.NewServer()
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	s := NewGRPCServer()
	var seen metadata.MD
	s.UnaryInterceptor = func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		seen, _ = metadata.FromIncomingContext(ctx)
		if m, _ := grpc.Method(ctx); m != info.FullMethod {
			t.Errorf("grpc.Method = %q, want %q", m, info.FullMethod)
		}
		_ = grpc.SetHeader(ctx, metadata.Pairs("h", "1"))
		_ = grpc.SetTrailer(ctx, metadata.Pairs("t-bin", "\x00"))
		return h(ctx, req)
	}
	healthpb.RegisterHealthServer(s, hs)

	hdr, msgs, st, tr := callGRPC(t, s, "/grpc.health.v1.Health/Check", metadata.Pairs("application", "app1"), &healthpb.HealthCheckRequest{})
	var resp healthpb.HealthCheckResponse
	if st.Code() != codes.OK || len(msgs) != 1 || proto.Unmarshal(msgs[0], &resp) != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %d messages %v", st, len(msgs), &resp)
	}
	if seen.Get("application")[0] != "app1" || hdr.Get("h")[0] != "1" || tr.Get("t-bin")[0] != "\x00" {
		t.Errorf("metadata in %v, header %v, trailer %v", seen, hdr, tr)
	}
	// An error of the method is the call's status.
	if _, _, st, _ := callGRPC(t, s, "/grpc.health.v1.Health/Check", nil, &healthpb.HealthCheckRequest{Service: "nope"}); st.Code() != codes.NotFound {
		t.Errorf("Check of an unknown service name: %v, want NotFound", st)
	}
	// Server streaming: Watch sends the status at once, then waits for
	// changes until the call's context ends.
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/grpc.health.v1.Health/Watch", nil)
	b, _ := proto.Marshal(&healthpb.HealthCheckRequest{Service: "down"})
	req.Body = io.NopCloser(bytes.NewReader(grpcwire.AppendFrame(nil, grpcwire.FlagMessage, b)))
	req.Header.Set(grpcwire.CallHeader, "1")
	pr, pw := io.Pipe()
	rec := &pipeRecorder{ResponseRecorder: httptest.NewRecorder(), w: pw}
	go func() { s.ServeHTTP(rec, req); _ = pw.Close() }()
	fr := grpcwire.NewFrameReader(pr, 1<<20)
	flag, p, err := fr.Next()
	var w healthpb.HealthCheckResponse
	if err != nil || flag != grpcwire.FlagMessage || proto.Unmarshal(p, &w) != nil || w.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("Watch's first message: %v %q %v", flag, p, err)
	}
	cancel()
	flag, p, err = fr.Next()
	if err != nil || flag != grpcwire.FlagTrailer {
		t.Fatalf("Watch after cancel: %v %q %v", flag, p, err)
	}
	if st, _, _ := grpcwire.DecodeTrailer(p); st.Code() != codes.Canceled {
		t.Errorf("Watch ended with %v, want Canceled", st)
	}
}

// pipeRecorder passes what the handler writes on to a pipe, so that a test
// reads streamed frames as they are flushed.
type pipeRecorder struct {
	*httptest.ResponseRecorder
	w *io.PipeWriter
}

func (r *pipeRecorder) Write(b []byte) (int, error) { return r.w.Write(b) }
func (r *pipeRecorder) Flush()                      {}

func TestGRPCServerUnknownAndHTTP(t *testing.T) {
	s := NewGRPCServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	for method, want := range map[string]codes.Code{
		"/grpc.health.v1.Health/Nope": codes.Unimplemented,
		"/other.Service/Check":        codes.Unimplemented,
		"/malformed":                  codes.Unimplemented,
	} {
		if _, _, st, _ := callGRPC(t, s, method, nil, &healthpb.HealthCheckRequest{}); st.Code() != want {
			t.Errorf("%s: %v, want %v", method, st, want)
		}
	}
	// A unary call without its request message is refused, not run.
	if _, _, st, _ := callGRPC(t, s, "/grpc.health.v1.Health/Check", nil); st.Code() != codes.Internal {
		t.Errorf("Check without a message: %v, want Internal", st)
	}
	// Plain HTTP requests go to HTTP, or are 404 without one.
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("HTTP without a handler: %d", rec.Code)
	}
	s.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "http") })
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Body.String() != "http" {
		t.Errorf("HTTP: %q", rec.Body.String())
	}
	defer func() {
		if recover() == nil {
			t.Error("a service registered twice did not panic")
		}
	}()
	healthpb.RegisterHealthServer(s, health.NewServer())
}

// A panicking method answers Internal; the replica goes on.
func TestGRPCServerPanic(t *testing.T) {
	s := NewGRPCServer()
	s.RegisterService(&grpc.ServiceDesc{ServiceName: "p.P", Methods: []grpc.MethodDesc{{MethodName: "M",
		Handler: func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) { panic("boom") }}}}, nil)
	if _, _, st, _ := callGRPC(t, s, "/p.P/M", nil, &healthpb.HealthCheckRequest{}); st.Code() != codes.Internal {
		t.Errorf("panic: %v, want Internal", st)
	}
}

// The replica's metrics see a gRPC call's status as the HTTP status it
// stands for: a method's INTERNAL is an error, its NOT_FOUND is not.
func TestGRPCServerOutcome(t *testing.T) {
	hs := health.NewServer()
	s := NewGRPCServer()
	healthpb.RegisterHealthServer(s, hs)
	s.RegisterService(&grpc.ServiceDesc{ServiceName: "p.P", Methods: []grpc.MethodDesc{{MethodName: "M",
		Handler: func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
			return nil, status.Error(codes.Internal, "broken")
		}}}}, nil)
	for method, want := range map[string]int{"/grpc.health.v1.Health/Check": 200, "/p.P/M": 500, "/p.P/Nope": 501} {
		b, _ := proto.Marshal(&healthpb.HealthCheckRequest{})
		req := httptest.NewRequest(http.MethodPost, method, bytes.NewReader(grpcwire.AppendFrame(nil, grpcwire.FlagMessage, b)))
		req.Header.Set(grpcwire.CallHeader, "1")
		sw := &statusWriter{ResponseWriter: httptest.NewRecorder()}
		s.ServeHTTP(sw, req)
		if sw.code() != want {
			t.Errorf("%s: counted as %d, want %d", method, sw.code(), want)
		}
	}
	if _, _, st, _ := callGRPC(t, s, "/grpc.health.v1.Health/Check", nil, &healthpb.HealthCheckRequest{Service: "x"}); st.Code() != codes.NotFound || httpStatusOf(st.Code()) != 404 {
		t.Errorf("NotFound: %v", st)
	}
}
