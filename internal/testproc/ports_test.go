package testproc

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortIsBelowTheEphemeralRangeAndBindable(t *testing.T) {
	lo, hi := pickRange()
	for range 20 {
		p := Port(t, "127.0.0.1")
		if p < lo || p >= hi {
			t.Fatalf("port %d outside [%d, %d)", p, lo, hi)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		_ = l.Close()
	}
}

func TestFreePortSkipsATakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := l.Addr().(*net.TCPAddr).Port
	free := Port(t, "127.0.0.1")
	seq := []int{held, held, free}
	p, err := freePortOf("127.0.0.1", func() int { c := seq[0]; seq = seq[1:]; return c })
	if err != nil || p != free {
		t.Fatalf("got %d, %v; want %d (the held port %d skipped)", p, err, free, held)
	}
	if _, err := freePortOf("127.0.0.1", func() int { return held }); err == nil {
		t.Fatalf("a port held throughout was handed out")
	}
}
