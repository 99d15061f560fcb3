// Package integration runs serve end to end: a real `goray start --head` and
// a worker node as processes on loopback, goray-examples as the binary the
// replicas run from, requests through the nodes' proxies. loadgen.go is the
// closed-loop HTTP load generator of the tests and of the serve benchmark.
package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// LoadResult is what a load run measured.
type LoadResult struct {
	Clients   int
	Requests  int64
	Failures  int64
	Duration  time.Duration
	P50, P99  time.Duration
	Statuses  map[int]int64
	Bodies    map[string]int64
	FirstErrs []string
}

// RPS is requests per second.
func (r LoadResult) RPS() float64 { return float64(r.Requests) / r.Duration.Seconds() }

func (r LoadResult) String() string {
	return fmt.Sprintf("%d clients: %d requests (%d failed) in %v: %.0f req/s, p50 %v, p99 %v", r.Clients, r.Requests, r.Failures,
		r.Duration.Round(time.Millisecond), r.RPS(), r.P50, r.P99)
}

// Load runs clients closed-loop GETs of url (each on its own keep-alive
// connection) until ctx ends. keepBodies records the distinct bodies seen.
func Load(ctx context.Context, url string, clients int, keepBodies bool) LoadResult {
	var wg sync.WaitGroup
	var reqs, fails atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int64{}
	bodies := map[string]int64{}
	var errs []string
	lats := make([][]time.Duration, clients)
	start := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 120 * time.Second}
			buf := make([]byte, 4096)
			local := make([]time.Duration, 0, 1<<14)
			for ctx.Err() == nil {
				t0 := time.Now()
				resp, err := c.Get(url)
				if err != nil {
					if ctx.Err() == nil {
						fails.Add(1)
						reqs.Add(1)
						mu.Lock()
						if len(errs) < 10 {
							errs = append(errs, err.Error())
						}
						mu.Unlock()
					}
					continue
				}
				var body []byte
				if keepBodies {
					body, _ = io.ReadAll(resp.Body)
				} else {
					for {
						if _, err := resp.Body.Read(buf); err != nil {
							break
						}
					}
				}
				_ = resp.Body.Close()
				local = append(local, time.Since(t0))
				reqs.Add(1)
				if resp.StatusCode != http.StatusOK {
					fails.Add(1)
				}
				if keepBodies || resp.StatusCode != http.StatusOK {
					mu.Lock()
					statuses[resp.StatusCode]++
					if keepBodies {
						bodies[string(body)]++
					}
					if resp.StatusCode != http.StatusOK && len(errs) < 10 {
						errs = append(errs, fmt.Sprintf("%d: %s", resp.StatusCode, body))
					}
					mu.Unlock()
				}
			}
			lats[i] = local
		}(i)
	}
	wg.Wait()
	res := LoadResult{Clients: clients, Requests: reqs.Load(), Failures: fails.Load(), Duration: time.Since(start),
		Statuses: statuses, Bodies: bodies, FirstErrs: errs}
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if n := len(all); n > 0 {
		res.P50, res.P99 = all[n/2], all[min(n-1, n*99/100)]
	}
	return res
}
