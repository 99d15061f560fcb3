package serve

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/serve/internal/grpcwire"
	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/router"
)

// GRPC is a gRPC client connection to the deployment behind h, whose
// handler is a GRPCServer: give it to a generated client
// (greeterpb.NewGreeterClient(h.GRPC())) to call its methods, unary or
// streaming, from another deployment (Ray's model composition over gRPC).
// Calls are routed as the handle's HTTP requests are; the outgoing
// metadata of ctx, its deadline and cancel reach the method, and
// grpc.Header and grpc.Trailer call options receive the answer's.
func (h *Handle) GRPC() grpc.ClientConnInterface { return grpcConn{h} }

type grpcConn struct{ h *Handle }

// callOptions are the call options a handle's calls honour.
type callOptions struct {
	header, trailer *metadata.MD
}

func readOptions(opts []grpc.CallOption) callOptions {
	var o callOptions
	for _, opt := range opts {
		switch v := opt.(type) {
		case grpc.HeaderCallOption:
			o.header = v.HeaderAddr
		case grpc.TrailerCallOption:
			o.trailer = v.TrailerAddr
		}
	}
	return o
}

// send sends a call: its one message msg whole (one), or the frames body
// streams; the answer comes back once its head did.
func (c grpcConn) send(ctx context.Context, method string, one bool, msg []byte, body io.ReadCloser) (*http.Response, func(), error) {
	hdr := http.Header{}
	hdr.Set(grpcwire.CallHeader, "1")
	hdr.Set("Content-Type", grpcwire.ContentType)
	if md, ok := metadata.FromOutgoingContext(ctx); ok {
		grpcwire.PutMetadata(hdr, md)
	}
	deadline, ok := ctx.Deadline()
	grpcwire.PutTimeout(hdr, deadline, ok)
	model := ""
	if md, ok := metadata.FromOutgoingContext(ctx); ok {
		if ms := md.Get("multiplexed_model_id"); len(ms) > 0 {
			model = ms[0]
		}
	}
	kind := grpcwire.RequestsMany
	if one {
		kind = grpcwire.RequestsOne
	}
	hdr.Set(grpcwire.RequestsHeader, kind)
	resp, done, err := c.h.r.Send(ctx, 60*time.Second, model, func(addr string) (*http.Request, error) {
		req := &http.Request{Method: http.MethodPost, URL: &url.URL{Scheme: "http", Host: addr, Path: method}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: hdr, Host: addr, ContentLength: -1, Body: body}
		if one {
			b := grpcwire.AppendFrame(nil, grpcwire.FlagMessage, msg)
			req.Body, req.ContentLength = hop.NewBody(b), int64(len(b))
		}
		return req.WithContext(ctx), nil
	})
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return nil, nil, status.FromContextError(ctx.Err()).Err()
		case errors.Is(err, router.ErrShed):
			return nil, nil, status.Error(codes.ResourceExhausted, err.Error())
		}
		return nil, nil, status.Errorf(codes.Unavailable, "%s/%s: %v", c.h.app, c.h.deployment, err)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), grpcwire.ContentType) {
		_ = resp.Body.Close()
		done()
		return nil, nil, status.Errorf(codes.Unimplemented, "%s/%s serves no gRPC (it answered %s over HTTP)", c.h.app, c.h.deployment, resp.Status)
	}
	return resp, done, nil
}

// Invoke runs a unary call.
func (c grpcConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	o := readOptions(opts)
	b, err := marshalMsg(args)
	if err != nil {
		return status.Errorf(codes.Internal, "marshal the request: %v", err)
	}
	resp, done, err := c.send(ctx, method, true, b, nil)
	if err != nil {
		return err
	}
	defer done()
	defer resp.Body.Close()
	if o.header != nil {
		*o.header = grpcwire.Metadata(resp.Header)
	}
	fr := grpcwire.NewFrameReader(resp.Body, MaxGRPCMessageSize)
	got := false
	for {
		flag, p, err := fr.Next()
		if err != nil {
			if ctx.Err() != nil {
				return status.FromContextError(ctx.Err()).Err()
			}
			return status.Errorf(codes.Internal, "%s/%s broke the call off: %v", c.h.app, c.h.deployment, err)
		}
		if flag == grpcwire.FlagMessage {
			if !got {
				if err := unmarshalMsg(p, reply); err != nil {
					return status.Errorf(codes.Internal, "unmarshal the response: %v", err)
				}
				got = true
			}
			continue
		}
		st, tr, err := grpcwire.DecodeTrailer(p)
		if err != nil {
			return status.Errorf(codes.Internal, "%s/%s: %v", c.h.app, c.h.deployment, err)
		}
		if o.trailer != nil {
			*o.trailer = tr
		}
		if st.Code() == codes.OK && !got {
			return status.Error(codes.Internal, "the answer holds no response message")
		}
		return st.Err()
	}
}

// NewStream starts a streaming call: its messages stream to the method as
// SendMsg sends them, its answers come as RecvMsg reads them.
func (c grpcConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	s := &handleStream{ctx: ctx, cancel: cancel, pw: pw, opts: readOptions(opts), ready: make(chan struct{}), clientStreams: desc.ClientStreams}
	go func() {
		defer close(s.ready)
		resp, done, err := c.send(ctx, method, false, nil, pr) //nolint:bodyclose // end closes it
		if err != nil {
			s.err = err
			_ = pr.CloseWithError(err)
			cancel()
			return
		}
		s.resp, s.done = resp, done
		s.fr = grpcwire.NewFrameReader(resp.Body, MaxGRPCMessageSize)
		s.header = grpcwire.Metadata(resp.Header)
		if s.opts.header != nil {
			*s.opts.header = s.header
		}
		// A caller that cancels and reads no further still frees the replica.
		context.AfterFunc(ctx, func() { _ = s.end(status.FromContextError(ctx.Err()).Err(), nil) })
	}()
	return s, nil
}

// handleStream is a streaming call through a handle.
type handleStream struct {
	ctx           context.Context
	cancel        context.CancelFunc
	pw            *io.PipeWriter
	opts          callOptions
	clientStreams bool
	sent          bool

	ready  chan struct{} // closed once the answer's head came (or the call failed)
	err    error         // the call failed before its answer
	resp   *http.Response
	done   func()
	fr     *grpcwire.FrameReader
	header metadata.MD

	mu      sync.Mutex
	trailer metadata.MD
	final   error // the call's end: io.EOF for OK, else its status
}

func (s *handleStream) Header() (metadata.MD, error) {
	<-s.ready
	if s.err != nil {
		return nil, s.err
	}
	return s.header, nil
}

func (s *handleStream) Trailer() metadata.MD {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trailer
}

func (s *handleStream) CloseSend() error { return s.pw.Close() }

func (s *handleStream) Context() context.Context { return s.ctx }

func (s *handleStream) SendMsg(m any) error {
	if !s.clientStreams && s.sent {
		return status.Error(codes.Internal, "SendMsg called twice on a call of one request message")
	}
	b, err := marshalMsg(m)
	if err != nil {
		return status.Errorf(codes.Internal, "marshal a request: %v", err)
	}
	if len(b) > MaxGRPCMessageSize {
		return status.Errorf(codes.ResourceExhausted, "request message of %d bytes, more than the limit of %d", len(b), MaxGRPCMessageSize)
	}
	s.sent = true
	if _, err := s.pw.Write(grpcwire.AppendFrame(nil, grpcwire.FlagMessage, b)); err != nil {
		return io.EOF // the call ended: RecvMsg says how
	}
	if !s.clientStreams {
		return s.pw.Close()
	}
	return nil
}

// RecvMsg reads the next answer; io.EOF once the call ended OK, else its
// status (again on every later call).
func (s *handleStream) RecvMsg(m any) error {
	<-s.ready
	if s.err != nil {
		return s.err
	}
	s.mu.Lock()
	final := s.final
	s.mu.Unlock()
	if final != nil {
		return final
	}
	flag, p, err := s.fr.Next()
	if err != nil {
		if s.ctx.Err() != nil {
			err = status.FromContextError(s.ctx.Err()).Err()
		} else {
			err = status.Errorf(codes.Internal, "the call broke off: %v", err)
		}
		return s.end(err, nil)
	}
	if flag == grpcwire.FlagMessage {
		if err := unmarshalMsg(p, m); err != nil {
			return s.end(status.Errorf(codes.Internal, "unmarshal a response: %v", err), nil)
		}
		return nil
	}
	st, tr, err := grpcwire.DecodeTrailer(p)
	if err != nil {
		return s.end(status.Errorf(codes.Internal, "%v", err), nil)
	}
	if st.Code() == codes.OK {
		return s.end(io.EOF, tr)
	}
	return s.end(st.Err(), tr)
}

// end ends the call with err (io.EOF: OK) and the trailer.
func (s *handleStream) end(err error, tr metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.final != nil {
		return s.final
	}
	s.final, s.trailer = err, tr
	if s.opts.trailer != nil {
		*s.opts.trailer = tr
	}
	_ = s.pw.CloseWithError(errors.New("serve: the call ended"))
	_ = s.resp.Body.Close()
	s.done()
	s.cancel()
	return err
}
