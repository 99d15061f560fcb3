// Package greeter is goray's example of a gRPC deployment (Ray Serve's gRPC
// proxy): the application "greeter" whose deployment "Greeter" serves the
// gRPC service goray.examples.greeter.Greeter (greeterpb/greeter.proto)
// through every node's serve gRPC proxy (port 9000). Deploy it with a serve
// config:
//
//	grpc_options:
//	  port: 9000
//	  grpc_servicer_functions: [greeterpb.RegisterGreeterServer]
//	applications:
//	  - name: greeter
//	    route_prefix: /greeter
//	    import_path: greeter
//	    deployments:
//	      - name: Greeter
//	        user_config: {greeting: Hello}
//
// and call it with any gRPC client, naming the application in the
// "application" metadata key (optional while it is the only one):
//
//	grpcurl -plaintext -proto greeterpb/greeter.proto -H 'application: greeter' \
//	  -d '{"name": "Ray"}' localhost:9000 goray.examples.greeter.Greeter/SayHello
//
// SayHello answers "<greeting>, <name>!"; SayHelloStream streams count such
// greetings, interval_ms apart. Over HTTP (port 8000) the deployment answers
// GET /greeter?name=Ray the same way, from the same handler.
package greeter

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/examples/greeter/greeterpb"
	"github.com/goray-dev/goray/runtime/serve"
)

// Config is Greeter's user_config.
type Config struct {
	Greeting string `json:"greeting"`
}

// MaxStream bounds SayHelloStream's count.
const MaxStream = 1000

// server implements greeterpb.GreeterServer; its greeting changes in place
// with the user_config.
type server struct {
	greeterpb.UnimplementedGreeterServer
	greeting atomic.Pointer[string]
}

func (s *server) greet(name string) string { return fmt.Sprintf("%s, %s!", *s.greeting.Load(), name) }

// SayHello answers one greeting; an empty name is INVALID_ARGUMENT. The
// replica serving it says who it is in the "replica" header metadata.
func (s *server) SayHello(ctx context.Context, in *greeterpb.HelloRequest) (*greeterpb.HelloReply, error) {
	if in.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name is empty")
	}
	if rc, ok := serve.GetReplicaContext(); ok {
		_ = grpc.SetHeader(ctx, metadata.Pairs("replica", rc.ReplicaID))
	}
	return &greeterpb.HelloReply{Message: s.greet(in.GetName())}, nil
}

// SayHelloStream streams count greetings, each as its own message.
func (s *server) SayHelloStream(in *greeterpb.HelloStreamRequest, stream grpc.ServerStreamingServer[greeterpb.HelloReply]) error {
	if in.GetCount() < 0 || in.GetCount() > MaxStream {
		return status.Errorf(codes.InvalidArgument, "count must be between 0 and %d", MaxStream)
	}
	for i := range in.GetCount() {
		if i > 0 && in.GetIntervalMs() > 0 {
			select {
			case <-stream.Context().Done():
				return status.FromContextError(stream.Context().Err()).Err()
			case <-time.After(time.Duration(in.GetIntervalMs()) * time.Millisecond):
			}
		}
		if err := stream.Send(&greeterpb.HelloReply{Message: fmt.Sprintf("%s (%d)", s.greet(in.GetName()), i+1)}); err != nil {
			return err
		}
	}
	return nil
}

// Handler is the deployment's handler: the gRPC service and an HTTP view
// of SayHello.
type Handler struct {
	*serve.GRPCServer
	s *server
}

// Reconfigure takes a new greeting without a restart.
func (h *Handler) Reconfigure(_ context.Context, cfg Config) error {
	h.s.greeting.Store(greetingOf(cfg))
	return nil
}

func greetingOf(cfg Config) *string {
	g := cfg.Greeting
	if g == "" {
		g = "Hello"
	}
	return &g
}

// Greeter is the deployment.
var Greeter = serve.Deployment("Greeter", func(ctx context.Context, cfg Config) (http.Handler, error) {
	s := &server{}
	s.greeting.Store(greetingOf(cfg))
	gs := serve.NewGRPCServer()
	greeterpb.RegisterGreeterServer(gs, s)
	gs.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if name == "" {
			http.Error(w, "?name= is missing", http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, s.greet(name))
	})
	return &Handler{GRPCServer: gs, s: s}, nil
})

var _ = serve.Application("greeter", Greeter)
