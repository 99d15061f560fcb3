// Package integration runs serve end to end: a real `goray start --head` and
// a worker node as processes on loopback, goray-examples as the binary the
// replicas run from, requests through the nodes' proxies. loadgen.go is the
// closed-loop HTTP load generator of the tests and of the serve benchmark.
package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
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

// StreamResult is what a streaming load run measured.
type StreamResult struct {
	Streams   int
	Responses int64 // event streams read to their end
	Tokens    int64 // events read
	Failures  int64
	Duration  time.Duration
	FirstP50  time.Duration // time to the first event of a stream (median)
	FirstErrs []string
}

// TokensPerSecond is events read per second, over all streams.
func (r StreamResult) TokensPerSecond() float64 { return float64(r.Tokens) / r.Duration.Seconds() }

func (r StreamResult) String() string {
	return fmt.Sprintf("%d streams: %d responses, %d tokens (%d failed) in %v: %.0f tokens/s, first token p50 %v", r.Streams, r.Responses,
		r.Tokens, r.Failures, r.Duration.Round(time.Millisecond), r.TokensPerSecond(), r.FirstP50)
}

// maxStreamRequests bounds each stream's requests in a StreamLoad run (ctx
// bounds its time).
const maxStreamRequests = 1_000_000

// StreamLoad runs streams closed-loop GETs of an event stream at url (each
// on its own keep-alive connection) until ctx ends, counting the events
// ("data:" lines) as they arrive.
func StreamLoad(ctx context.Context, url string, streams int) StreamResult {
	var wg sync.WaitGroup
	var resps, tokens, fails atomic.Int64
	var mu sync.Mutex
	var errs []string
	firsts := make([][]time.Duration, streams)
	fail := func(msg string) {
		fails.Add(1)
		mu.Lock()
		if len(errs) < 10 {
			errs = append(errs, msg)
		}
		mu.Unlock()
	}
	start := time.Now()
	for i := range streams {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 120 * time.Second}
			for n := 0; n < maxStreamRequests && ctx.Err() == nil; n++ {
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := c.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						fail(err.Error())
					}
					continue
				}
				if resp.StatusCode != http.StatusOK {
					_ = resp.Body.Close()
					fail(resp.Status)
					continue
				}
				sc := bufio.NewScanner(resp.Body)
				first := true
				for sc.Scan() {
					if strings.HasPrefix(sc.Text(), "data:") {
						if first {
							firsts[i] = append(firsts[i], time.Since(t0))
							first = false
						}
						tokens.Add(1)
					}
				}
				_ = resp.Body.Close()
				if err := sc.Err(); err != nil {
					if ctx.Err() == nil {
						fail(err.Error())
					}
					continue
				}
				resps.Add(1)
			}
		}(i)
	}
	wg.Wait()
	res := StreamResult{Streams: streams, Responses: resps.Load(), Tokens: tokens.Load(), Failures: fails.Load(), Duration: time.Since(start),
		FirstErrs: errs}
	var all []time.Duration
	for _, f := range firsts {
		all = append(all, f...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) > 0 {
		res.FirstP50 = all[len(all)/2]
	}
	return res
}
