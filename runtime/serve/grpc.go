package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"reflect"
	"runtime/debug"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"

	"github.com/goray-dev/goray/runtime/serve/internal/grpcwire"
)

// MaxGRPCMessageSize bounds one message of a gRPC call, either way (the
// serve gRPC proxy's limit too).
const MaxGRPCMessageSize = grpcwire.MaxMessageSize

// GRPCServer serves a deployment's gRPC services, as a *grpc.Server would:
// register them on it with their generated functions
// (pb.RegisterGreeterServer(s, impl), Ray's add_..._to_server) and return it
// from the deployment's constructor. Calls reach it through the serve gRPC
// proxy (port 9000), routed to the application by the "application"
// metadata key, and run the method of the registered service the call
// names, unary or streaming, with the client's metadata and deadline in
// ctx; grpc.SetHeader, grpc.SendHeader and grpc.SetTrailer work as on a
// grpc.Server, and the status of the returned error is the client's.
//
// It is an http.Handler: requests that are not gRPC calls (through the HTTP
// proxy or a handle) go to HTTP, or are answered 404 when it is nil.
type GRPCServer struct {
	// HTTP serves the deployment's HTTP requests (nil: 404).
	HTTP http.Handler
	// UnaryInterceptor and StreamInterceptor, when set, run around every
	// unary or streaming call as a grpc.Server's do.
	UnaryInterceptor  grpc.UnaryServerInterceptor
	StreamInterceptor grpc.StreamServerInterceptor

	mu       sync.RWMutex
	services map[string]*grpcService
}

type grpcService struct {
	impl    any
	methods map[string]*grpc.MethodDesc
	streams map[string]*grpc.StreamDesc
}

// NewGRPCServer is a GRPCServer without services.
func NewGRPCServer() *GRPCServer { return &GRPCServer{} }

var _ grpc.ServiceRegistrar = (*GRPCServer)(nil)

// RegisterService registers a service and its implementation, which must
// implement desc's handler type (grpc.ServiceRegistrar's contract; a
// generated RegisterXServer calls it). It panics on a service registered
// twice or an implementation of the wrong type, as grpc.Server does.
func (s *GRPCServer) RegisterService(desc *grpc.ServiceDesc, impl any) {
	if impl != nil && desc.HandlerType != nil {
		ht := reflect.TypeOf(desc.HandlerType).Elem()
		if st := reflect.TypeOf(impl); !st.Implements(ht) {
			panic(fmt.Sprintf("serve.GRPCServer.RegisterService: %v does not implement %v of service %s", st, ht, desc.ServiceName))
		}
	}
	svc := &grpcService{impl: impl, methods: map[string]*grpc.MethodDesc{}, streams: map[string]*grpc.StreamDesc{}}
	for i := range desc.Methods {
		svc.methods[desc.Methods[i].MethodName] = &desc.Methods[i]
	}
	for i := range desc.Streams {
		svc.streams[desc.Streams[i].StreamName] = &desc.Streams[i]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.services == nil {
		s.services = map[string]*grpcService{}
	}
	if _, dup := s.services[desc.ServiceName]; dup {
		panic(fmt.Sprintf("serve.GRPCServer.RegisterService: service %s registered twice", desc.ServiceName))
	}
	s.services[desc.ServiceName] = svc
}

// Services are the names of the registered services, as "pkg.Service".
func (s *GRPCServer) Services() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.services))
	for n := range s.services {
		out = append(out, n)
	}
	return out
}

// ServeHTTP runs a gRPC call of the serve gRPC proxy, or passes an HTTP
// request on to HTTP.
func (s *GRPCServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get(grpcwire.CallHeader) == "" {
		if s.HTTP == nil {
			http.NotFound(w, r)
			return
		}
		s.HTTP.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	if d, ok := grpcwire.Timeout(r.Header); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	ctx = metadata.NewIncomingContext(ctx, grpcwire.Metadata(r.Header))
	call := &grpcCall{method: r.URL.Path, w: w, body: grpcwire.NewFrameReader(r.Body, MaxGRPCMessageSize),
		sentOne: r.Header.Get(grpcwire.RequestsHeader) == grpcwire.RequestsOne}
	ctx = grpc.NewContextWithServerTransportStream(ctx, call)
	call.ctx = ctx
	call.finish(s.run(ctx, call))
}

// run runs the call's method and returns its error (nil: OK).
func (s *GRPCServer) run(ctx context.Context, call *grpcCall) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Printf("serve: gRPC %s panicked: %v\n%s", call.method, p, debug.Stack())
			err = status.Errorf(codes.Internal, "the deployment's %s panicked: %v", call.method, p)
		}
	}()
	service, method, ok := grpcwire.SplitMethod(call.method)
	if !ok {
		return status.Errorf(codes.Unimplemented, "malformed method name: %q", call.method)
	}
	s.mu.RLock()
	svc := s.services[service]
	s.mu.RUnlock()
	if svc == nil {
		return status.Errorf(codes.Unimplemented, "unknown service %s", service)
	}
	md, sd := svc.methods[method], svc.streams[method]
	switch {
	case md != nil, sd != nil && !sd.ClientStreams:
		call.requests = grpcwire.RequestsOne
	case sd != nil:
		call.requests = grpcwire.RequestsMany
		if call.sentOne {
			// The proxy took this for a method of one message (it was,
			// before a new version of the deployment): not run, sent again
			// as a stream.
			return status.Errorf(codes.Unavailable, "%s takes a stream of messages; the proxy sends the call again", call.method)
		}
	}
	if md != nil {
		flag, req, err := call.body.Next()
		if err != nil {
			return recvStatus(err, "the call's request message")
		}
		if flag != grpcwire.FlagMessage {
			return status.Error(codes.Internal, "the call's request is not a message")
		}
		resp, err := md.Handler(svc.impl, ctx, func(v any) error {
			if err := unmarshalMsg(req, v); err != nil {
				return status.Errorf(codes.Internal, "unmarshal the request: %v", err)
			}
			return nil
		}, s.UnaryInterceptor)
		if err != nil {
			return err
		}
		b, err := marshalMsg(resp)
		if err != nil {
			return status.Errorf(codes.Internal, "marshal the response: %v", err)
		}
		return call.send(b, false)
	}
	if sd != nil {
		ss := &grpcServerStream{call: call}
		if s.StreamInterceptor == nil {
			return sd.Handler(svc.impl, ss)
		}
		info := &grpc.StreamServerInfo{FullMethod: call.method, IsClientStream: sd.ClientStreams, IsServerStream: sd.ServerStreams}
		return s.StreamInterceptor(svc.impl, ss, info, sd.Handler)
	}
	return status.Errorf(codes.Unimplemented, "unknown method %s for service %s", method, service)
}

// recvStatus is the status of a failed read of the client's messages.
func recvStatus(err error, what string) error {
	switch {
	case errors.Is(err, io.EOF):
		return status.Errorf(codes.Internal, "%s is missing", what)
	case errors.Is(err, grpcwire.ErrTooLarge):
		return status.Errorf(codes.ResourceExhausted, "%s: %v", what, err)
	}
	return status.Errorf(codes.Canceled, "%s: %v", what, err)
}

func marshalMsg(v any) ([]byte, error) {
	switch m := v.(type) {
	case proto.Message:
		return proto.Marshal(m)
	case protoadapt.MessageV1:
		return proto.Marshal(protoadapt.MessageV2Of(m))
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("%T is not a protobuf message", v)
}

func unmarshalMsg(b []byte, v any) error {
	switch m := v.(type) {
	case proto.Message:
		return proto.Unmarshal(b, m)
	case protoadapt.MessageV1:
		return proto.Unmarshal(b, protoadapt.MessageV2Of(m))
	case *[]byte:
		*m = append((*m)[:0], b...)
		return nil
	}
	return fmt.Errorf("%T is not a protobuf message", v)
}

// grpcCall is a call in a replica: the grpc.ServerTransportStream that
// grpc.SetHeader and friends reach through the handler's context, and the
// writer of its answer.
type grpcCall struct {
	ctx    context.Context
	method string
	w      http.ResponseWriter
	body   *grpcwire.FrameReader
	// sentOne: the proxy sent the call as one message; requests is what
	// the method takes (grpcwire.RequestsHeader; "" for no method).
	sentOne  bool
	requests string

	mu         sync.Mutex
	header     metadata.MD
	trailer    metadata.MD
	headerSent bool
	done       bool
	out        []byte // frames not yet written
}

func (c *grpcCall) Method() string { return c.method }

func (c *grpcCall) SetHeader(md metadata.MD) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.headerSent || c.done {
		return status.Error(codes.Internal, "grpc: SetHeader after the header was sent")
	}
	c.header = metadata.Join(c.header, md)
	return nil
}

func (c *grpcCall) SendHeader(md metadata.MD) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.headerSent || c.done {
		return status.Error(codes.Internal, "grpc: SendHeader called twice")
	}
	c.header = metadata.Join(c.header, md)
	c.writeHeaderLocked()
	return c.flushLocked()
}

func (c *grpcCall) SetTrailer(md metadata.MD) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return status.Error(codes.Internal, "grpc: SetTrailer after the call ended")
	}
	c.trailer = metadata.Join(c.trailer, md)
	return nil
}

func (c *grpcCall) writeHeaderLocked() {
	if c.headerSent {
		return
	}
	c.headerSent = true
	h := c.w.Header()
	h.Set("Content-Type", grpcwire.ContentType)
	if c.requests != "" {
		h.Set(grpcwire.RequestsHeader, c.requests)
	}
	grpcwire.PutMetadata(h, c.header)
	c.w.WriteHeader(http.StatusOK)
}

// flushLocked writes the frames held and sends them on at once.
func (c *grpcCall) flushLocked() error {
	if len(c.out) > 0 {
		_, err := c.w.Write(c.out)
		c.out = c.out[:0]
		if err != nil {
			return status.Errorf(codes.Canceled, "the client is gone: %v", err)
		}
	}
	if err := http.NewResponseController(c.w).Flush(); err != nil {
		return status.Errorf(codes.Canceled, "the client is gone: %v", err)
	}
	return nil
}

// send queues a response message; flush sends it on at once (a streamed
// message), else it goes with the trailer (a unary answer).
func (c *grpcCall) send(msg []byte, flush bool) error {
	if len(msg) > MaxGRPCMessageSize {
		return status.Errorf(codes.ResourceExhausted, "response message of %d bytes, more than the limit of %d", len(msg), MaxGRPCMessageSize)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return status.Error(codes.Internal, "grpc: SendMsg after the call ended")
	}
	c.writeHeaderLocked()
	c.out = grpcwire.AppendFrame(c.out, grpcwire.FlagMessage, msg)
	if !flush {
		return nil
	}
	return c.flushLocked()
}

// finish ends the call with err's status and the trailer.
func (c *grpcCall) finish(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	st := status.Convert(err)
	if err != nil && st.Code() == codes.Unknown {
		// A context error the handler returned as it is means what gRPC
		// would say of it.
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			st = status.New(codes.DeadlineExceeded, err.Error())
		case errors.Is(err, context.Canceled):
			st = status.New(codes.Canceled, err.Error())
		}
	}
	c.writeHeaderLocked()
	if o, ok := c.w.(interface{ setOutcome(int) }); ok {
		o.setOutcome(httpStatusOf(st.Code())) // the replica's metrics count 5xx as errors
	}
	c.out = grpcwire.AppendFrame(c.out, grpcwire.FlagTrailer, grpcwire.EncodeTrailer(st, c.trailer))
	c.done = true
	_, _ = c.w.Write(c.out)
	c.out = nil
}

// httpStatusOf is the HTTP status a gRPC code stands for (the mapping of
// gRPC's HTTP gateways): client errors 4xx, server errors 5xx.
func httpStatusOf(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError // Unknown, Internal, DataLoss, any other
}

// grpcServerStream is the grpc.ServerStream of a streaming call.
type grpcServerStream struct {
	call    *grpcCall
	recvEOF bool
}

func (s *grpcServerStream) SetHeader(md metadata.MD) error  { return s.call.SetHeader(md) }
func (s *grpcServerStream) SendHeader(md metadata.MD) error { return s.call.SendHeader(md) }
func (s *grpcServerStream) SetTrailer(md metadata.MD)       { _ = s.call.SetTrailer(md) }
func (s *grpcServerStream) Context() context.Context        { return s.call.ctx }

func (s *grpcServerStream) SendMsg(m any) error {
	b, err := marshalMsg(m)
	if err != nil {
		return status.Errorf(codes.Internal, "marshal a response: %v", err)
	}
	return s.call.send(b, true)
}

// RecvMsg reads the client's next message; io.EOF once it sent its last.
func (s *grpcServerStream) RecvMsg(m any) error {
	if s.recvEOF {
		return io.EOF
	}
	flag, payload, err := s.call.body.Next()
	if errors.Is(err, io.EOF) {
		s.recvEOF = true
		return io.EOF
	}
	if err != nil {
		return recvStatus(err, "a request message")
	}
	if flag != grpcwire.FlagMessage {
		return status.Error(codes.Internal, "a request frame is not a message")
	}
	if err := unmarshalMsg(payload, m); err != nil {
		return status.Errorf(codes.Internal, "unmarshal a request: %v", err)
	}
	return nil
}
