// Package integration proves token auth (and TLS) on real `goray start`
// processes: it finds every socket a head and a worker node (and the
// workers they started) listen on, from /proc, and checks that each refuses
// a call without the token but the documented health endpoints and the
// serve ingress.
package integration

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/auth"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// listener is a TCP socket in LISTEN state.
type listener struct {
	addr  string // ip:port
	inode string
}

// listeners returns the listening TCP sockets (IPv4 and IPv6) of the
// processes pids.
func listeners(t *testing.T, pids []int) []listener {
	t.Helper()
	owned := socketInodes(pids)
	var out []listener
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" || !owned[fs[9]] { // 0A: LISTEN
				continue
			}
			out = append(out, listener{addr: procAddr(t, fs[1]), inode: fs[9]})
		}
		_ = f.Close()
	}
	return out
}

// unixListeners returns the unix sockets under dir (the nodes' session
// directories: the workers' and replicas' sockets for callers on the same
// node). /proc/net/unix is not read: sandboxes often show it empty.
func unixListeners(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeSocket != 0 {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func socketInodes(pids []int) map[string]bool {
	owned := map[string]bool{}
	for _, pid := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(l, "socket:[") {
				owned[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
			}
		}
	}
	return owned
}

// procAddr decodes /proc/net/tcp's "0100007F:1F90" (the IP in host byte
// order, 32 bits at a time).
func procAddr(t *testing.T, s string) string {
	h, p, _ := strings.Cut(s, ":")
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatalf("bad address %q", s)
	}
	for i := 0; i+4 <= len(b); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:]))
	}
	port, _ := strconv.ParseUint(p, 16, 16)
	return net.JoinHostPort(net.IP(b).String(), strconv.Itoa(int(port)))
}

// kind is what a probe found a listener to speak.
type kind string

const (
	kindHTTP kind = "http"
	kindGRPC kind = "grpc"
	kindHop  kind = "hop"
	// kindGRPCIngress is the serve gRPC proxy: Ray Serve's gRPC ingress.
	kindGRPCIngress kind = "grpc ingress"
)

// client is how the probes reach the cluster: with or without the token,
// with or without the cluster's TLS.
type client struct {
	sec auth.Config
	tls *tls.Config // nil: plain text
}

func (c client) dialer(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 3 * time.Second}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return d.DialContext(ctx, "unix", path)
	}
	if c.tls != nil {
		return (&tls.Dialer{NetDialer: d, Config: c.tls}).DialContext(ctx, "tcp", addr)
	}
	return d.DialContext(ctx, "tcp", addr)
}

// httpGet GETs path; ok is false when the listener does not speak HTTP/1.1.
func (c client) httpGet(addr, path string) (code int, body string, ok bool) {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, a string) (net.Conn, error) { return c.dialer(ctx, a) }}
	defer tr.CloseIdleConnections()
	scheme := "http"
	if c.tls != nil {
		scheme = "https"
		tr.DialContext = nil
		tr.DialTLSContext = func(ctx context.Context, _, a string) (net.Conn, error) { return c.dialer(ctx, a) }
	}
	hc := &http.Client{Transport: c.sec.Transport(tr), Timeout: 5 * time.Second}
	resp, err := hc.Get(scheme + "://" + addr + path)
	if err != nil {
		return 0, err.Error(), false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), true
}

// grpcCodes calls one cheap method of each runtime service, and the newer
// methods of the node and worker services (a server runs
// interceptors only for the methods it has) and returns their codes.
func (c client) grpcCodes(addr string) []codes.Code {
	conn, err := c.grpcConn(addr)
	if err != nil {
		return []codes.Code{codes.Unknown}
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, e1 := rpcpb.NewGcsClient(conn).GetClusterStatus(ctx, &rpcpb.Empty{})
	_, e2 := rpcpb.NewNodeManagerClient(conn).GetNodeStats(ctx, &rpcpb.Empty{})
	_, e3 := rpcpb.NewCoreWorkerClient(conn).Ping(ctx, &rpcpb.PingRequest{})
	// The methods added since: a node's why-did-this-worker-die and a
	// worker's borrow registrations (a caller without the token must not
	// learn of workers nor hold or drop another process's objects).
	_, e4 := rpcpb.NewNodeManagerClient(conn).GetWorkerFailureCause(ctx, &rpcpb.WorkerFailureCauseRequest{WorkerId: "w"})
	_, e5 := rpcpb.NewCoreWorkerClient(conn).UpdateBorrows(ctx, &rpcpb.BorrowUpdate{})
	return []codes.Code{status.Code(e1), status.Code(e2), status.Code(e3), status.Code(e4), status.Code(e5)}
}

// grpcConn is a connection to addr with c's transport and token.
func (c client) grpcConn(addr string) (*grpc.ClientConn, error) {
	opts := c.sec.DialOptions() // the first is the transport: plain text without sec.TLS
	if c.tls != nil {
		opts[0] = grpc.WithTransportCredentials(credentials.NewTLS(c.tls))
	}
	target := "passthrough:///" + addr
	if strings.HasPrefix(addr, "unix:") {
		target = addr
	}
	return grpc.NewClient(target, opts...)
}

// grpcIngressCodes calls the serve gRPC proxy's Healthz and
// ListApplications (Ray's RayServeAPIService) and a method of an
// application's service (the runtime's Gcs service, which the application
// does not serve).
func (c client) grpcIngressCodes(addr string) (healthz, list, call codes.Code) {
	conn, err := c.grpcConn(addr)
	if err != nil {
		return codes.Unknown, codes.Unknown, codes.Unknown
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	api := rpcpb.NewRayServeAPIServiceClient(conn)
	_, e1 := api.Healthz(ctx, &rpcpb.HealthzRequest{})
	_, e2 := api.ListApplications(ctx, &rpcpb.ListApplicationsRequest{})
	_, e3 := rpcpb.NewGcsClient(conn).GetClusterStatus(ctx, &rpcpb.Empty{})
	return status.Code(e1), status.Code(e2), status.Code(e3)
}

// hopGet sends one GET on package hop's protocol (written out here by hand:
// the test speaks the wire, as an attacker would) and reports whether a
// response frame came back.
func (c client) hopGet(addr string) (answered bool, speaksHop bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := c.dialer(ctx, addr)
	if err != nil {
		return false, false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	b := []byte("GORAY-HOP/4\n") // package hop's Preface
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.sec.Token)))
	b = append(b, c.sec.Token...)
	payload := []byte{3, 'G', 'E', 'T', 1, '/', 1, 'x', 0} // method, URI, host, no header, no body
	b = append(b, 1, 0, 0, 0, 1)                           // request frame, stream 1
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	b = append(b, payload...)
	if _, err := conn.Write(b); err != nil {
		return false, false
	}
	var h [9]byte
	_, err = io.ReadFull(conn, h[:])
	if err != nil {
		return false, errIsEOF(err)
	}
	return h[0] >= 2 && h[0] <= 9 && binary.BigEndian.Uint32(h[1:5]) == 1, true
}

func errIsEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "connection reset")
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
