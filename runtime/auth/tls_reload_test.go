package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// secretDir lays out files as the kubelet does for a Secret volume:
// <dir>/tls.crt -> ..data/tls.crt, ..data -> a versioned directory that an
// update replaces in one rename.
type secretDir struct {
	t       *testing.T
	dir     string
	version int
}

func newSecretDir(t *testing.T) *secretDir {
	d := &secretDir{t: t, dir: t.TempDir()}
	for _, n := range []string{"tls.crt", "tls.key", "ca.crt"} {
		if err := os.Symlink(filepath.Join("..data", n), filepath.Join(d.dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (d *secretDir) path(n string) string { return filepath.Join(d.dir, n) }

// write puts a new version of the three files in place atomically.
func (d *secretDir) write(cert, key, ca []byte) {
	d.t.Helper()
	d.version++
	v := fmt.Sprintf("..v%d", d.version)
	if err := os.Mkdir(filepath.Join(d.dir, v), 0o700); err != nil {
		d.t.Fatal(err)
	}
	for n, b := range map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": ca} {
		if err := os.WriteFile(filepath.Join(d.dir, v, n), b, 0o600); err != nil {
			d.t.Fatal(err)
		}
	}
	tmp := filepath.Join(d.dir, "..data_tmp")
	if err := os.Symlink(v, tmp); err != nil {
		d.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, "..data")); err != nil {
		d.t.Fatal(err)
	}
}

func (d *secretDir) load() *TLS {
	d.t.Helper()
	t, err := LoadTLS(d.path("tls.crt"), d.path("tls.key"), d.path("ca.crt"))
	if err != nil {
		d.t.Fatal(err)
	}
	return t
}

func issueFrom(t *testing.T, ca *CA, cn string) (cert, key []byte, serial *big.Int) {
	t.Helper()
	cert, key, err := ca.Issue(cn, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(cert)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, c.SerialNumber
}

// handshake runs one mutual TLS handshake and returns the serial of the
// certificate the server presented.
func handshake(t *testing.T, server, client *TLS) (*big.Int, error) {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", server.ServerConfig(true))
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	done := make(chan error, 1)
	go func() {
		c, err := lis.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
		done <- err
	}()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", lis.Addr().String(), client.ClientConfig())
	if err != nil {
		if serr := <-done; serr == nil {
			t.Log("the server completed a handshake the client refused")
		}
		return nil, err
	}
	defer conn.Close()
	serial := conn.ConnectionState().PeerCertificates[0].SerialNumber
	return serial, <-done
}

// TestTLSReload: a process picks up a renewed certificate (a Secret update)
// at its next handshake, keeps the last good one while the files are
// broken, and trusts a new CA once its file changes.
func TestTLSReload(t *testing.T) {
	defer func(d time.Duration) { ReloadInterval = d }(ReloadInterval)
	ReloadInterval = 0

	ca, err := NewCA("cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvDir, cliDir := newSecretDir(t), newSecretDir(t)
	c1, k1, s1 := issueFrom(t, ca, "head")
	srvDir.write(c1, k1, ca.CertPEM())
	cc, ck, _ := issueFrom(t, ca, "worker")
	cliDir.write(cc, ck, ca.CertPEM())
	server, client := srvDir.load(), cliDir.load()

	if got, err := handshake(t, server, client); err != nil || got.Cmp(s1) != 0 {
		t.Fatalf("first handshake: serial %v err %v, want %v", got, err, s1)
	}

	c2, k2, s2 := issueFrom(t, ca, "head")
	srvDir.write(c2, k2, ca.CertPEM())
	if got, err := handshake(t, server, client); err != nil || got.Cmp(s2) != 0 {
		t.Fatalf("after renewal: serial %v err %v, want the renewed %v", got, err, s2)
	}

	srvDir.write([]byte("half written"), k2, ca.CertPEM())
	if got, err := handshake(t, server, client); err != nil || got.Cmp(s2) != 0 {
		t.Fatalf("with a broken file: serial %v err %v, want the last good %v", got, err, s2)
	}

	// A new CA on the client's side: the server's certificate of the old
	// CA is refused from then on.
	other, err := NewCA("other", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	oc, ok, _ := issueFrom(t, other, "worker")
	cliDir.write(oc, ok, other.CertPEM())
	if _, err := handshake(t, server, client); err == nil {
		t.Fatal("a client that now trusts another CA accepted the old CA's server")
	}
}

// Without a change of the files nothing is read again.
func TestTLSNoReloadWithoutChange(t *testing.T) {
	defer func(d time.Duration) { ReloadInterval = d }(ReloadInterval)
	ReloadInterval = 0
	ca, err := NewCA("cluster", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d := newSecretDir(t)
	c, k, _ := issueFrom(t, ca, "head")
	d.write(c, k, ca.CertPEM())
	tl := d.load()
	first := tl.current().roots
	if tl.current().roots != first {
		t.Error("the files were read again without a change")
	}
}
