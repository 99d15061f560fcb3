package testproc

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreePort is a TCP port free on ip now, for a process the test starts to
// listen on. It comes from below the kernel's ephemeral range: a port there
// ("127.0.0.1:0") is also what the kernel hands every outgoing connection,
// and with many packages' tests at work one of those took a head's port
// between the pick and the head's bind often enough to fail CI. Below the
// range only another test's pick can collide, and a pick is checked by
// binding it.
func FreePort(ip string) (int, error) {
	lo, hi := pickRange()
	p, err := freePortOf(ip, func() int { return lo + rand.IntN(hi-lo) })
	if err != nil {
		return 0, fmt.Errorf("no free port on %s in [%d, %d): %w", ip, lo, hi, err)
	}
	return p, nil
}

// freePortOf is the first of 64 candidates that binds on ip.
func freePortOf(ip string, candidate func() int) (int, error) {
	var last error
	for range 64 {
		p := candidate()
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
		if err != nil {
			last = err
			continue
		}
		_ = l.Close()
		return p, nil
	}
	return 0, last
}

// Port is FreePort that fails the test when there is none.
func Port(t testing.TB, ip string) int {
	t.Helper()
	p, err := FreePort(ip)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// pickRange is [lo, hi): the ports from 16384 up to the ephemeral range's
// start, or up to 32768 (Linux's default start) where that is not known or
// leaves too few.
func pickRange() (int, int) {
	const lo = 16384
	hi := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if start, err := strconv.Atoi(f[0]); err == nil && start-lo >= 4096 {
				hi = start
			}
		}
	}
	return lo, hi
}

// MustFreePort is FreePort for a TestMain, which has no test to fail: it
// panics when there is none.
func MustFreePort(ip string) int {
	p, err := FreePort(ip)
	if err != nil {
		panic(err)
	}
	return p
}
