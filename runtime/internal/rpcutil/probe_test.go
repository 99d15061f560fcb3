package rpcutil

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// Every entry is probed once, no more than limit at a time, and each
// answer lands under its key.
func TestFanOut(t *testing.T) {
	in := map[string]int{}
	for i := range 20 {
		in[string(rune('a'+i))] = i
	}
	var running, peak atomic.Int32
	out := FanOut(in, 3, func(k string, v int) int {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		return v * 10
	})
	if len(out) != len(in) {
		t.Fatalf("%d answers for %d entries", len(out), len(in))
	}
	for k, v := range in {
		if out[k] != v*10 {
			t.Errorf("%s: %d, want %d", k, out[k], v*10)
		}
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrency %d, want at most 3 (and more than 1)", p)
	}
	if got := FanOut(map[string]int{}, 0, func(string, int) int { return 1 }); len(got) != 0 {
		t.Errorf("empty input: %v", got)
	}
}

// A port something listens on is not refused; the same port once closed is.
func TestRefused(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if Refused(context.Background(), addr, time.Second) {
		t.Errorf("%s listens, reported refused", addr)
	}
	_ = lis.Close()
	if !Refused(context.Background(), addr, time.Second) {
		t.Errorf("%s closed, not reported refused", addr)
	}
}
