package auth

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// cpuTime is this process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkUnaryRoundTrip is Ray's raw_grpc_unary_roundtrip floor with
// each security setting: what auth adds to every call the runtime makes.
// go test -run '^$' -bench UnaryRoundTrip -count 6 ./runtime/auth/
func BenchmarkUnaryRoundTrip(b *testing.B) {
	dir := b.TempDir()
	ca, err := NewCA("bench", time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	cert, key, err := ca.Issue("bench", nil, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for n, v := range map[string][]byte{"cert": cert, "key": key, "ca": ca.CertPEM()} {
		if err := os.WriteFile(filepath.Join(dir, n), v, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	tl, err := LoadTLS(filepath.Join(dir, "cert"), filepath.Join(dir, "key"), filepath.Join(dir, "ca"))
	if err != nil {
		b.Fatal(err)
	}
	withTLS := NewToken("a-token-of-forty-eight-characters-like-ray-makes")
	withTLS.TLS = tl
	for _, bc := range []struct {
		name string
		sec  Config
	}{{"off", Config{}}, {"token", NewToken("a-token-of-forty-eight-characters-like-ray-makes")}, {"token+tls", withTLS}} {
		b.Run(bc.name, func(b *testing.B) {
			addr := serveHealth(b, bc.sec)
			conn, err := grpc.NewClient(addr, bc.sec.DialOptions()...)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			c := healthpb.NewHealthClient(conn)
			ctx := context.Background()
			if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				b.Fatal(err)
			}
			cpu0 := cpuTime()
			for b.Loop() {
				if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time (client and server are this process) varies far less
			// than wall time on a shared machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
