package rpcutil

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/auth"
)

// A peer that connects and never speaks gRPC is dropped after
// HandshakeTimeout (gRPC's default held it 120 s, and nothing capped how
// many such connections a server held).
func TestSilentConnectionDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits for the handshake timeout")
	}
	lis, err := Listen("127.0.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ServerOptions(auth.Config{})...)
	go srv.Serve(lis)
	defer srv.Stop()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(HandshakeTimeout + 20*time.Second))
	_, err = io.ReadAll(c) // the server's settings frame, then EOF when it drops us
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a silent connection was still open after %v", time.Since(start))
	}
}

// Listen caps the connections a listener holds: the one past the cap waits
// in the backlog until another closes.
func TestListenCapsConnections(t *testing.T) {
	l, err := listen("127.0.0.1", 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	first, second := <-accepted, <-accepted
	select {
	case <-accepted:
		t.Fatal("a third connection was accepted past the cap of 2")
	case <-time.After(200 * time.Millisecond):
	}
	_ = first.Close()
	select {
	case c := <-accepted:
		_ = c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting connection was not accepted after one closed")
	}
	_ = second.Close()
}
