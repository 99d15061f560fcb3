package cluster

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
)

// ServeHTTP serves h on host:port (HTTPS with sec's TLS) with the runtime's
// limits: headers within 10 s and 1 MiB, idle keep-alive connections
// closed after 2 minutes, at most rpcutil.MaxConns connections at once.
func ServeHTTP(host string, port int, h http.Handler, sec auth.Config) (*http.Server, error) {
	lis, err := rpcutil.Listen(host, port)
	if err != nil {
		return nil, err
	}
	return serveOn(lis, h, sec), nil
}

// serveOn serves h on lis as ServeHTTP does.
func serveOn(lis net.Listener, h http.Handler, sec auth.Config) *http.Server {
	if sec.TLS != nil {
		lis = tls.NewListener(lis, sec.TLS.ServerConfig(false))
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 20}
	go s.Serve(lis)
	return s
}

// listenPort is the port to listen on for a Config port: AnyPort is 0 (a
// free one); on is false for a part left off (0, or below AnyPort).
func listenPort(p int) (port int, on bool) {
	switch {
	case p == AnyPort:
		return 0, true
	case p > 0:
		return p, true
	}
	return 0, false
}

// listenAPI opens the listener of one of the node's HTTP APIs on host:port
// (a Config port): nil when the port leaves it off.
func listenAPI(host string, port int, what string) (net.Listener, error) {
	p, on := listenPort(port)
	if !on {
		return nil, nil
	}
	lis, err := rpcutil.Listen(host, p)
	if err != nil {
		return nil, fmt.Errorf("%s on %s:%d: %w", what, host, port, err)
	}
	return lis, nil
}

// serveAPI runs one of the node's HTTP APIs on lis (nil: the API is off)
// behind the auth layer, which lets through without the token only what p
// opens. It returns the address it listens on, "" when off.
func (c *Cluster) serveAPI(lis net.Listener, host string, h http.Handler, what string, p auth.HTTPPolicy) string {
	if lis == nil {
		return ""
	}
	c.servers = append(c.servers, serveOn(lis, c.sec.Handler(h, p), c.sec))
	addr := net.JoinHostPort(host, strconv.Itoa(lis.Addr().(*net.TCPAddr).Port))
	c.log.Printf("%s listening on %s", what, addr)
	return addr
}
