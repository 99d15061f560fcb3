package testnet

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The test binary, run in a host's namespace, is a listener that counts
// what it receives or a sender of a given number of bytes.
func TestMain(m *testing.M) {
	switch os.Getenv("TESTNET_ROLE") {
	case "listen":
		os.Exit(listen(os.Getenv("TESTNET_ADDR")))
	case "send":
		n, _ := strconv.Atoi(os.Getenv("TESTNET_BYTES"))
		os.Exit(send(os.Getenv("TESTNET_ADDR"), n))
	}
	os.Exit(m.Run())
}

func listen(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	fmt.Println("ready")
	c, err := l.Accept()
	if err != nil {
		return 1
	}
	n, _ := io.Copy(io.Discard, c)
	fmt.Println(n)
	return 0
}

func send(addr string, n int) int {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	defer c.Close()
	if _, err := c.Write(make([]byte, n)); err != nil {
		fmt.Println("write:", err)
		return 1
	}
	return 0
}

// Hosts reach each other at their addresses, at no more than their links'
// rate. (Whether the machine's own namespace reaches them is not tried:
// from there the subnet's addresses lead out of the machine.)
func TestHostsAndTheirLinks(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	n, err := New("tn", 2, "80mbit") // 10 MB/s
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	addr := net.JoinHostPort(n.Hosts[1].IP, "7000")
	l := n.Command(1, os.Args[0], "-test.run=^$")
	l.Env = append(os.Environ(), "TESTNET_ROLE=listen", "TESTNET_ADDR="+addr)
	out, err := l.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	defer l.Process.Kill()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("listener: %q", lines.Text())
	}
	const size = 4 << 20
	s := n.Command(0, os.Args[0], "-test.run=^$")
	s.Env = append(os.Environ(), "TESTNET_ROLE=send", "TESTNET_ADDR="+addr, "TESTNET_BYTES="+strconv.Itoa(size))
	t0 := time.Now()
	if out, err := s.CombinedOutput(); err != nil {
		t.Fatalf("sender: %v: %s", err, out)
	}
	if !lines.Scan() || strings.TrimSpace(lines.Text()) != strconv.Itoa(size) {
		t.Fatalf("the listener received %q bytes, want %d", lines.Text(), size)
	}
	// 4 MB at 10 MB/s, less the bucket's burst: not faster than the link.
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Fatalf("4 MB crossed an 80 Mbit/s link in %v", d)
	}
	_ = l.Wait()
}
