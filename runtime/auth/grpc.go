package auth

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// metadataKey is the gRPC metadata the token travels in (Ray's).
const metadataKey = "authorization"

// ServerOptions are the options a runtime gRPC server adds for c: the
// token check on every call and, with TLS, mutual TLS.
func (c Config) ServerOptions() []grpc.ServerOption {
	var opts []grpc.ServerOption
	if c.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(c.TLS.ServerConfig(true))))
	}
	if c.Required {
		opts = append(opts, grpc.ChainUnaryInterceptor(c.unary), grpc.ChainStreamInterceptor(c.stream))
	}
	return opts
}

// DialOptions are the options a runtime gRPC client adds for c: its
// transport (TLS or plain) and the token on every call.
func (c Config) DialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if c.TLS != nil {
		opts[0] = grpc.WithTransportCredentials(credentials.NewTLS(c.TLS.ClientConfig()))
	}
	if c.Token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(tokenCreds{md: map[string]string{metadataKey: "Bearer " + c.Token}}))
	}
	return opts
}

// CheckContext checks the token of an incoming gRPC call.
func (c Config) CheckContext(ctx context.Context) error {
	if !c.Required {
		return nil
	}
	return c.checkValues(metadata.ValueFromIncomingContext(ctx, metadataKey))
}

// checkValues checks the first of a call's token values.
func (c Config) checkValues(vs []string) error {
	if len(vs) == 0 {
		return status.Error(codes.Unauthenticated, missingMsg)
	}
	tok, ok := bearer(vs[0])
	if !ok || !c.Valid(tok) {
		return status.Error(codes.Unauthenticated, wrongMsg)
	}
	return nil
}

// CheckMetadata checks the token in md, the metadata of a call from outside
// the cluster (the serve gRPC ingress): "authorization" or, as the HTTP APIs
// take it, "x-ray-authorization" ("Bearer <token>").
func (c Config) CheckMetadata(md metadata.MD) error {
	if !c.Required {
		return nil
	}
	vs := md.Get(metadataKey)
	if len(vs) == 0 {
		vs = md.Get(RayMetadataKey)
	}
	return c.checkValues(vs)
}

// Metadata keys a token comes in, in gRPC's lower case: the standard one
// (what goray's own clients send) and KubeRay's.
const (
	MetadataKey    = metadataKey
	RayMetadataKey = "x-ray-authorization"
)

func (c Config) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := c.CheckContext(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (c Config) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := c.CheckContext(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// tokenCreds puts the token on every call. The map is never changed, so
// every call shares it.
type tokenCreds struct{ md map[string]string }

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return t.md, nil
}

// RequireTransportSecurity is false: a cluster without TLS still checks
// tokens (Ray's token mode does not need TLS; it says to use both).
func (t tokenCreds) RequireTransportSecurity() bool { return false }
