package proxy

// The gRPC proxy: Ray Serve's gRPC ingress (grpc_options), on its own port
// (9000 by default) next to the HTTP proxy, sharing its routing table and
// routers. It needs none of the applications' protos: every call is taken
// by one handler (grpc.UnknownServiceHandler) with a codec that passes the
// messages' bytes through, and goes to a replica of the application's
// ingress deployment as a request of package hop (the wire is package
// grpcwire's), where a serve.GRPCServer runs the method.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/grpcwire"
	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/router"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

// Ray Serve's own methods, answered by the proxy.
const (
	HealthzMethod          = "/ray.serve.RayServeAPIService/Healthz"
	ListApplicationsMethod = "/ray.serve.RayServeAPIService/ListApplications"
)

// Metadata keys the gRPC proxy reads (Ray's).
const (
	// ApplicationKey names the application a call goes to.
	ApplicationKey = "application"
	// RequestIDKey is the call's request id; the proxy makes one when the
	// client sent none and returns it in the trailer.
	RequestIDKey = "request_id"
	// ModelIDKey names the multiplexed model a call asks for.
	ModelIDKey = "multiplexed_model_id"
)

// healthyMessage is Healthz's answer (Ray's HEALTHY_MESSAGE).
const healthyMessage = "success"

// drainingMessage is Ray's answer of a draining proxy's health methods.
const drainingMessage = "This node is being drained."

// grpcKind is what a gRPC call is.
type grpcKind int

const (
	grpcApp grpcKind = iota
	grpcHealthz
	grpcListApplications
)

// grpcRoute is where a call goes: a kind and, for grpcApp, the
// application; or the status that answers it (err non-nil).
type grpcRoute struct {
	kind grpcKind
	app  *routes.App
	err  *grpcstatus.Status
}

// routeGRPC decides where a call of method with metadata md goes, on a
// proxy (of the head node, or not; draining, or not) that follows t.
//
// As in Ray: the proxy answers RayServeAPIService itself (UNAVAILABLE while
// it drains); an application call goes to the application named by the
// "application" metadata key, or to the only application when the key is
// absent, and is NOT_FOUND otherwise. Unlike Ray, a named application that
// does not exist is NOT_FOUND even when only one runs (Ray sends it to that
// one). A service that grpc_options.grpc_servicer_functions (when set) does
// not list is UNIMPLEMENTED, as a gRPC server answers a service it lacks.
func routeGRPC(t *routes.Table, head, draining bool, method string, md metadata.MD) grpcRoute {
	if !routes.Serves(t.HTTP.Location, head) {
		return grpcRoute{err: grpcstatus.Newf(codes.Unavailable, "This node's serve proxy is off (proxy_location: %s).", t.HTTP.Location)}
	}
	switch method {
	case HealthzMethod, ListApplicationsMethod:
		if draining {
			return grpcRoute{err: grpcstatus.New(codes.Unavailable, drainingMessage)}
		}
		if method == HealthzMethod {
			return grpcRoute{kind: grpcHealthz}
		}
		return grpcRoute{kind: grpcListApplications}
	}
	service, _, ok := grpcwire.SplitMethod(method)
	if !ok {
		return grpcRoute{err: grpcstatus.Newf(codes.Unimplemented, "malformed method name: %q", method)}
	}
	if fs := t.GRPC.ServicerFunctions; len(fs) > 0 && !slices.ContainsFunc(fs, func(f string) bool { return servicerServes(f, service) }) {
		return grpcRoute{err: grpcstatus.Newf(codes.Unimplemented, "unknown service %s (grpc_options.grpc_servicer_functions does not list it)", service)}
	}
	const ping = " Ping " + ListApplicationsMethod + " for available applications."
	if names := md.Get(ApplicationKey); len(names) > 0 {
		for i := range t.Apps {
			if t.Apps[i].Name == names[0] {
				return grpcRoute{app: &t.Apps[i]}
			}
		}
		return grpcRoute{err: grpcstatus.Newf(codes.NotFound, "Application '%s' not found.%s", names[0], ping)}
	}
	if len(t.Apps) == 1 {
		return grpcRoute{app: &t.Apps[0]}
	}
	return grpcRoute{err: grpcstatus.New(codes.NotFound, "Application metadata not set."+ping)}
}

// servicerServes reports whether a grpc_servicer_functions entry names
// service ("pkg.Service"): the service's full name; or a function that
// registers it by its short name, Ray's Python
// "module_pb2_grpc.add_ServiceServicer_to_server" or Go's
// "pkg.RegisterServiceServer".
func servicerServes(entry, service string) bool {
	if entry == service {
		return true
	}
	fn := entry[strings.LastIndex(entry, ".")+1:]
	name, ok := strings.CutPrefix(fn, "add_")
	if ok {
		name, ok = strings.CutSuffix(name, "Servicer_to_server")
	} else if name, ok = strings.CutPrefix(fn, "Register"); ok {
		name, ok = strings.CutSuffix(name, "Server")
	}
	return ok && name != "" && service[strings.LastIndex(service, ".")+1:] == name
}

// rawCodec passes messages through as bytes: the proxy reads a client's
// messages as []byte and sends a replica's the same way.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("serve gRPC proxy: cannot send a %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("serve gRPC proxy: cannot read into a %T", v)
	}
	*b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// grpcMaxStreams bounds the calls one client connection has open at once.
const grpcMaxStreams = 1024

// grpcMaxHeaderBytes bounds a call's metadata (the HTTP proxy's header limit).
const grpcMaxHeaderBytes = 1 << 20

// newGRPCServer is the gRPC proxy's server: the token and TLS of sec (the
// client's certificate checked only when it gives one), the message limit,
// and every call to p.serveGRPC.
func (p *Proxy) newGRPCServer(sec auth.Config) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.UnknownServiceHandler(p.serveGRPC),
		grpc.MaxRecvMsgSize(grpcwire.MaxMessageSize), grpc.MaxSendMsgSize(grpcwire.MaxMessageSize),
		grpc.MaxConcurrentStreams(grpcMaxStreams), grpc.MaxHeaderListSize(grpcMaxHeaderBytes),
		grpc.ConnectionTimeout(rpcutil.HandshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}
	if sec.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(sec.TLS.ServerConfig(false))))
	}
	return grpc.NewServer(opts...)
}

// serveGRPC answers one call (any method of any service).
func (p *Proxy) serveGRPC(_ any, ss grpc.ServerStream) (err error) {
	start := p.cfg.GRPCMetrics.Start()
	ctx := ss.Context()
	method, _ := grpc.MethodFromServerStream(ss)
	var app *routes.App
	defer func() {
		// The method label only for methods that exist: clients pick it.
		name, dep, label := "", "", "OTHER"
		if app != nil {
			name, dep = app.Name, app.Ingress
		}
		code := grpcstatus.Code(err)
		if app != nil && code != codes.Unimplemented || method == HealthzMethod || method == ListApplicationsMethod {
			label = method
		}
		p.cfg.GRPCMetrics.Record(start, name, dep, label, code)
	}()
	md, _ := metadata.FromIncomingContext(ctx)
	if method != HealthzMethod {
		// Health probes carry no token, as on every goray port.
		if err := p.cfg.Auth.CheckMetadata(md); err != nil {
			return err
		}
	}
	t := p.table.Load()
	rt := routeGRPC(t, p.cfg.Head, p.draining.Load(), method, md)
	if rt.err != nil {
		return rt.err.Err()
	}
	switch rt.kind {
	case grpcHealthz:
		return answer(ss, &rpcpb.HealthzResponse{Message: healthyMessage})
	case grpcListApplications:
		names := make([]string, 0, len(t.Apps))
		for _, a := range t.Apps {
			names = append(names, a.Name)
		}
		slices.Sort(names)
		return answer(ss, &rpcpb.ListApplicationsResponse{ApplicationNames: names})
	}
	app = rt.app
	return p.forwardGRPC(ctx, ss, t, rt.app, method, md)
}

// answer reads the request of a unary method the proxy serves itself and
// sends its response.
func answer(ss grpc.ServerStream, resp proto.Message) error {
	var in []byte
	if err := ss.RecvMsg(&in); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	b, err := proto.Marshal(resp)
	if err != nil {
		return grpcstatus.Errorf(codes.Internal, "marshal %T: %v", resp, err)
	}
	return ss.SendMsg(&b)
}

// errCallEnded ends a call's request stream once the call is over.
var errCallEnded = errors.New("serve gRPC proxy: the call ended")

// newRequestID is a request id for a call that brought none.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// forwardGRPC sends a call to a replica of app's ingress deployment and
// relays its answer: header metadata, messages as they come, status and
// trailer.
func (p *Proxy) forwardGRPC(ctx context.Context, ss grpc.ServerStream, t *routes.Table, app *routes.App, method string, md metadata.MD) error {
	p.mu.Lock()
	rt := p.routers[app.Name]
	p.mu.Unlock()
	if rt == nil {
		return grpcstatus.Errorf(codes.Unavailable, "application %s is not routable", app.Name)
	}
	var timeout time.Duration
	if t.GRPC.RequestTimeoutS > 0 {
		timeout = time.Duration(t.GRPC.RequestTimeoutS * float64(time.Second))
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	fwd := md.Copy()
	if p.cfg.Auth.Required {
		// The cluster's token is for the proxy, not for the application.
		delete(fwd, auth.MetadataKey)
		delete(fwd, auth.RayMetadataKey)
	}
	requestID := newRequestID()
	if ids := md.Get(RequestIDKey); len(ids) > 0 && ids[0] != "" {
		requestID = ids[0]
	}
	fwd.Set(RequestIDKey, requestID)
	ss.SetTrailer(metadata.Pairs(RequestIDKey, requestID))
	hdr := http.Header{}
	hdr.Set(grpcwire.CallHeader, "1")
	hdr.Set("Content-Type", grpcwire.ContentType)
	grpcwire.PutMetadata(hdr, fwd)
	deadline, hasDeadline := ctx.Deadline()
	grpcwire.PutTimeout(hdr, deadline, hasDeadline)
	if pr, ok := peer.FromContext(ctx); ok && pr.Addr != nil {
		if host, _, err := net.SplitHostPort(pr.Addr.String()); err == nil {
			hdr.Set("X-Forwarded-For", host)
		}
	}
	model := ""
	if ms := md.Get(ModelIDKey); len(ms) > 0 {
		model = ms[0]
		hdr.Set(router.ModelIDHeader, model)
	}

	// A method known to take one message (unary, server streaming) gets it
	// in the request's frame; any other call streams the client's messages
	// to the replica as they come.
	key := app.Name + "\x00" + method
	one := p.kinds.isOne(key)
	var first []byte
	haveFirst := false
	if one {
		switch err := ss.RecvMsg(&first); {
		case err == nil:
			haveFirst = true
		case !errors.Is(err, io.EOF):
			return err
		}
		one = len(first) <= inlineBody
	}
	var resp *http.Response
	var done func()
	for {
		var err error
		resp, done, err = p.sendGRPC(ctx, ss, rt, model, method, hdr, one, first, haveFirst)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctxStatus(ctx, timeout)
			case errors.Is(err, router.ErrShed):
				return grpcstatus.Error(codes.ResourceExhausted, err.Error())
			}
			return grpcstatus.Error(codes.Unavailable, err.Error())
		}
		kind := resp.Header.Get(grpcwire.RequestsHeader)
		p.kinds.learn(key, kind)
		if !one || kind != grpcwire.RequestsMany {
			break
		}
		// The method takes a stream now (a new version of the
		// deployment): the replica did not run it; again, as a stream.
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		done()
		one = false
	}
	defer done()
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), grpcwire.ContentType) {
		return grpcstatus.Errorf(codes.Unimplemented, "application %s's ingress deployment %s serves no gRPC (it answered %s over HTTP): "+
			"return a serve.GRPCServer with the service registered from its constructor", app.Name, app.Ingress, resp.Status)
	}
	if h := grpcwire.Metadata(resp.Header); len(h) > 0 {
		if err := ss.SetHeader(h); err != nil {
			return err
		}
	}
	fr := grpcwire.NewFrameReader(resp.Body, grpcwire.MaxMessageSize)
	for {
		flag, payload, err := fr.Next()
		if err != nil {
			if timedOut(ctx) {
				return deadlineStatus(timeout)
			}
			if ctx.Err() != nil {
				return ctxStatus(ctx, timeout)
			}
			return grpcstatus.Errorf(codes.Internal, "the replica of %s/%s broke the call off: %v", app.Name, app.Ingress, err)
		}
		if flag == grpcwire.FlagMessage {
			if err := ss.SendMsg(&payload); err != nil {
				return err
			}
			continue
		}
		st, trailer, err := grpcwire.DecodeTrailer(payload)
		if err != nil {
			return grpcstatus.Errorf(codes.Internal, "the answer of %s/%s: %v", app.Name, app.Ingress, err)
		}
		delete(trailer, RequestIDKey)
		ss.SetTrailer(trailer)
		if st.Code() != codes.OK && timedOut(ctx) {
			// The method ended because the call's time was up (it saw
			// its context end, maybe before this one's timer fired).
			return deadlineStatus(timeout)
		}
		return st.Err()
	}
}

// sendGRPC sends a call to a replica: as one message in the request's
// frame (one; the message first, none if !haveFirst), or as a stream of the
// client's messages (first, if haveFirst, then the rest as they come).
func (p *Proxy) sendGRPC(ctx context.Context, ss grpc.ServerStream, rt *router.Router, model, method string, hdr http.Header,
	one bool, first []byte, haveFirst bool) (*http.Response, func(), error) {
	hdr = hdr.Clone()
	build := func(addr string, body io.ReadCloser, n int64) *http.Request {
		return &http.Request{Method: http.MethodPost, URL: &url.URL{Scheme: "http", Host: addr, Path: method},
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: hdr, Body: body, ContentLength: n, Host: addr}
	}
	if one {
		hdr.Set(grpcwire.RequestsHeader, grpcwire.RequestsOne)
		var b []byte
		if haveFirst {
			b = grpcwire.AppendFrame(nil, grpcwire.FlagMessage, first)
		}
		return rt.Send(ctx, maxWait, model, func(addr string) (*http.Request, error) {
			return build(addr, hop.NewBody(b), int64(len(b))), nil
		})
	}
	hdr.Set(grpcwire.RequestsHeader, grpcwire.RequestsMany)
	body, bw := io.Pipe()
	go func() {
		var frame []byte
		if haveFirst {
			frame = grpcwire.AppendFrame(frame, grpcwire.FlagMessage, first)
			if _, err := bw.Write(frame); err != nil {
				return
			}
		}
		for {
			var m []byte
			if err := ss.RecvMsg(&m); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				_ = bw.CloseWithError(err)
				return
			}
			frame = grpcwire.AppendFrame(frame[:0], grpcwire.FlagMessage, m)
			if _, err := bw.Write(frame); err != nil {
				return
			}
		}
	}()
	resp, done, err := rt.Send(ctx, maxWait, model, func(addr string) (*http.Request, error) {
		return build(addr, body, -1), nil
	})
	if err != nil {
		_ = body.CloseWithError(errCallEnded)
		return nil, nil, err
	}
	// The pump ends with the call: its writes fail once the answer is read.
	return resp, func() { _ = body.CloseWithError(errCallEnded); done() }, nil
}

// maxKinds bounds the methods whose kind a proxy remembers (past it, it
// starts over).
const maxKinds = 4096

// methodKinds remembers, per application and method, the methods that take
// one request message (grpcwire.RequestsHeader), as their replicas said.
type methodKinds struct {
	mu  sync.Mutex
	one map[string]bool
}

func (k *methodKinds) isOne(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.one[key]
}

// learn records what a replica said of a method: one, many, or nothing (no
// such method).
func (k *methodKinds) learn(key, kind string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kind != grpcwire.RequestsOne {
		delete(k.one, key)
		return
	}
	if k.one == nil || len(k.one) >= maxKinds && !k.one[key] {
		k.one = map[string]bool{}
	}
	k.one[key] = true
}

// timedOut reports whether ctx's deadline has passed (its Err may say so
// only a little later, when its timer fires).
func timedOut(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// deadlineStatus is the status of a call past its deadline: the client's,
// or grpc_options.request_timeout_s (timeout > 0).
func deadlineStatus(timeout time.Duration) error {
	if timeout > 0 {
		return grpcstatus.Errorf(codes.DeadlineExceeded, "Request timed out after %gs.", timeout.Seconds())
	}
	return grpcstatus.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
}

// ctxStatus is the status of a call whose context ended: the client's
// cancel or deadline, or grpc_options.request_timeout_s (timeout > 0).
func ctxStatus(ctx context.Context, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return deadlineStatus(timeout)
	}
	return grpcstatus.Error(codes.Canceled, ctx.Err().Error())
}
