package rpcutil

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// FanOut calls probe for every entry of in, at most limit at a time, and
// returns the answers by key: the liveness probes of many peers at once
// (the GCS's of drivers, a node's of object owners), each bounded by its
// own timeout, so a round takes about one timeout however many are down.
func FanOut[K comparable, V, R any](in map[K]V, limit int, probe func(K, V) R) map[K]R {
	out := make(map[K]R, len(in))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(limit, 1))
	for k, v := range in {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			r := probe(k, v)
			<-sem
			mu.Lock()
			out[k] = r
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// Refused tells, after an RPC to addr failed, a peer that is gone from one
// that does not answer: true when nothing listens at addr (the connection
// is refused), false when it listens but did not answer or gives no answer
// at all within timeout. A process that is only slow (a GC pause, a
// swapping machine) keeps its listening socket, so refusal is the strong
// evidence the liveness probes need.
func Refused(ctx context.Context, addr string, timeout time.Duration) bool {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, "tcp", addr)
	if err == nil {
		_ = c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
