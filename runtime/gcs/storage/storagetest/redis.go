// Package storagetest starts a real redis-server for tests: Debian's
// package, installed by hack/redis.sh when missing, on 127.0.0.1 with a
// free port and a temporary directory, killed by pid when the test ends.
package storagetest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/auth"
)

var (
	serverOnce sync.Once
	serverPath string
	serverErr  error
)

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// ServerPath returns redis-server's path, installing it with hack/redis.sh
// when missing. Without it the test is skipped, saying why, unless
// GORAY_REQUIRE_REDIS is set (make test sets it), when it fails.
func ServerPath(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no redis-server")
	}
	serverOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			serverErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "hack", "redis.sh"))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			serverErr = fmt.Errorf("hack/redis.sh: %w\n%s", err, stderr.String())
			return
		}
		serverPath = strings.TrimSpace(string(out))
	})
	if serverErr != nil {
		if os.Getenv("GORAY_REQUIRE_REDIS") != "" {
			t.Fatalf("no redis-server: %v", serverErr)
		}
		t.Skipf("skipped: no redis-server and it could not be installed (%v); run hack/redis.sh as root", serverErr)
	}
	return serverPath
}

// Options for a server.
type Options struct {
	// Password is the default user's password (requirepass).
	Password string
	// Users are ACL users, name -> password, with every right.
	Users map[string]string
	// TLS serves only TLS (rediss://) with a certificate for 127.0.0.1
	// from a new CA, whose PEM file is Server.CACert.
	TLS bool
}

// Server is a running redis-server.
type Server struct {
	Addr string
	Dir  string
	// CACert is the CA's PEM file (TLS only).
	CACert string
	cmd    *exec.Cmd
	done   chan struct{}
}

// Kill stops the server at once (SIGKILL, by pid) and waits for it.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}

// StartRedis starts a redis-server for the test; it is killed when the test ends.
func StartRedis(t testing.TB, o Options) *Server {
	t.Helper()
	bin := ServerPath(t)
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		s, err := start(t, bin, o)
		if err == nil {
			t.Cleanup(s.Kill)
			return s
		}
		last = err
	}
	t.Fatalf("start redis-server: %v", last)
	return nil
}

func start(t testing.TB, bin string, o Options) (*Server, error) {
	port, err := testproc.FreePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "goray-redis-")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// The password goes in a 0600 config file, never in the arguments.
	var conf strings.Builder
	fmt.Fprintf(&conf, "bind 127.0.0.1\ndir %s\nsave \"\"\nappendonly no\ndaemonize no\nprotected-mode yes\nlogfile \"\"\n", dir)
	caFile := ""
	if o.TLS {
		ca, err := auth.NewCA("goray-test-redis-ca", time.Hour)
		if err != nil {
			return nil, err
		}
		cert, key, err := ca.Issue("127.0.0.1", []string{"127.0.0.1", "localhost"}, time.Hour)
		if err != nil {
			return nil, err
		}
		caFile = filepath.Join(dir, "ca.crt")
		for name, b := range map[string][]byte{"ca.crt": ca.CertPEM(), "tls.crt": cert, "tls.key": key} {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				return nil, err
			}
		}
		fmt.Fprintf(&conf, "port 0\ntls-port %d\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients no\n",
			port, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), caFile)
	} else {
		fmt.Fprintf(&conf, "port %d\n", port)
	}
	if o.Password != "" {
		fmt.Fprintf(&conf, "requirepass %q\n", o.Password)
	}
	for u, p := range o.Users {
		fmt.Fprintf(&conf, "user %s on %q ~* &* +@all\n", u, ">"+p)
	}
	confPath := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, confPath)
	logf, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, CACert: caFile, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return nil, fmt.Errorf("redis-server exited: %s", b)
		default:
		}
		if ping(s.Addr, o.TLS) {
			return s, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return nil, fmt.Errorf("redis-server on %s did not answer within 10s", s.Addr)
}

// ping reports whether a Redis answers on addr (an auth error is an answer).
func ping(addr string, useTLS bool) bool {
	var c net.Conn
	var err error
	if useTLS {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a readiness probe
	} else {
		c, err = net.DialTimeout("tcp", addr, time.Second)
	}
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}
