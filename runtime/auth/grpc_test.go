package auth

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// serveHealth runs gRPC's health service (a unary and a streaming method)
// behind sec on loopback.
func serveHealth(t testing.TB, sec Config) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(sec.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func callHealth(t *testing.T, addr string, sec Config) error {
	t.Helper()
	conn, err := grpc.NewClient(addr, sec.DialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := healthpb.NewHealthClient(conn)
	_, uerr := c.Check(ctx, &healthpb.HealthCheckRequest{})
	st, err := c.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if (uerr == nil) != (err == nil) || status.Code(uerr) != status.Code(err) {
		t.Fatalf("unary and stream disagree: %v / %v", uerr, err)
	}
	return uerr
}

func TestGRPCToken(t *testing.T) {
	addr := serveHealth(t, NewToken("secret"))
	for _, tc := range []struct {
		name   string
		client Config
		code   codes.Code
		msg    string
	}{
		{"no token", Config{}, codes.Unauthenticated, "RAY_AUTH_TOKEN"},
		{"wrong token", NewToken("guess"), codes.Unauthenticated, "does not match"},
		{"the token", NewToken("secret"), codes.OK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := callHealth(t, addr, tc.client)
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.msg) {
				t.Fatalf("got %v, want %v with %q", err, tc.code, tc.msg)
			}
		})
	}
	// A server without auth takes calls with or without a token.
	open := serveHealth(t, Config{})
	if err := callHealth(t, open, NewToken("secret")); err != nil {
		t.Fatal(err)
	}
}

// testCA writes a CA and a certificate it signs (for any host: goray
// checks chains, not names) into dir.
func testCA(t *testing.T, dir, name string) (cert, key, ca string) {
	t.Helper()
	c, err := NewCA(name+" CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cb, kb, err := c.Issue(name, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write := func(n string, b []byte) string {
		p := filepath.Join(dir, name+"-"+n)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("cert.pem", cb), write("key.pem", kb), write("ca.pem", c.CertPEM())
}

func TestParseCA(t *testing.T) {
	c, err := NewCA("x", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := c.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ParseCA(c.CertPEM(), kp)
	if err != nil {
		t.Fatal(err)
	}
	cb, kb, err := c2.Issue("y", []string{"10.0.0.1", "head.svc"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for n, b := range map[string][]byte{"c": cb, "k": kb, "ca": c.CertPEM()} {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := LoadTLS(filepath.Join(dir, "c"), filepath.Join(dir, "k"), filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(tl.current().cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := tl.verifyPeer([]*x509.Certificate{leaf}); err != nil {
		t.Fatal(err)
	}
	other, _ := NewCA("other", time.Hour)
	ob, _, _ := other.Issue("z", nil, time.Hour)
	blk, _ := pem.Decode(ob)
	foreign, _ := x509.ParseCertificate(blk.Bytes)
	if err := tl.verifyPeer([]*x509.Certificate{foreign}); err == nil {
		t.Fatal("a certificate of another CA verified")
	}
	if _, err := ParseCA([]byte("junk"), kp); err == nil {
		t.Fatal("junk parsed as a CA")
	}
}

func TestGRPCMutualTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca := testCA(t, dir, "cluster")
	ocert, okey, oca := testCA(t, dir, "other")
	load := func(env map[string]string) Config {
		c, err := FromLookup(lookup(env))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tlsEnv := func(cert, key, ca string) map[string]string {
		return map[string]string{EnvUseTLS: "1", EnvServerCert: cert, EnvServerKey: key, EnvCACert: ca, EnvToken: "secret"}
	}
	addr := serveHealth(t, load(tlsEnv(cert, key, ca)))
	if err := callHealth(t, addr, load(tlsEnv(cert, key, ca))); err != nil {
		t.Fatalf("a client of the cluster's CA: %v", err)
	}
	for name, c := range map[string]Config{
		"plain text":             NewToken("secret"),
		"another CA's cert":      load(tlsEnv(ocert, okey, oca)),
		"our CA, foreign cert":   load(tlsEnv(ocert, okey, ca)),
		"foreign CA, our cert":   load(tlsEnv(cert, key, oca)),
		"our cert without token": load(map[string]string{EnvUseTLS: "1", EnvServerCert: cert, EnvServerKey: key, EnvCACert: ca}),
	} {
		t.Run(name, func(t *testing.T) {
			if err := callHealth(t, addr, c); err == nil {
				t.Fatal("the call went through")
			}
		})
	}
}

// CheckMetadata takes the token from "authorization" or KubeRay's
// "x-ray-authorization" and refuses a missing, unprefixed or wrong one.
func TestCheckMetadata(t *testing.T) {
	sec := NewToken("secret")
	for _, tc := range []struct {
		md   metadata.MD
		want codes.Code
	}{
		{metadata.Pairs("authorization", "Bearer secret"), codes.OK},
		{metadata.Pairs("x-ray-authorization", "bearer secret"), codes.OK},
		{metadata.Pairs("authorization", "Bearer wrong"), codes.Unauthenticated},
		{metadata.Pairs("authorization", "secret"), codes.Unauthenticated},
		{metadata.Pairs("other", "Bearer secret"), codes.Unauthenticated},
		{nil, codes.Unauthenticated},
	} {
		if got := status.Code(sec.CheckMetadata(tc.md)); got != tc.want {
			t.Errorf("CheckMetadata(%v) = %v, want %v", tc.md, got, tc.want)
		}
	}
	if err := (Config{}).CheckMetadata(nil); err != nil {
		t.Errorf("no token required: %v", err)
	}
}
