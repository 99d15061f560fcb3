package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// load runs closed-loop HTTP GETs against a URL: each of -c clients sends
// its next request when the previous one is answered. A request succeeds
// with a 200 answer read to the end within -timeout. It stops after -d or
// after -n requests, whichever comes first, and prints the figures.
func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	clients := fs.Int("c", 2, "concurrent clients")
	dur := fs.Duration("d", time.Minute, "how long to send")
	max := fs.Int64("n", 200000, "at most this many requests")
	timeout := fs.Duration("timeout", 5*time.Second, "per-request timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("load: want one URL")
	}
	url := fs.Arg(0)
	if *clients < 1 || *dur <= 0 || *max < 1 {
		return errors.New("load: -c, -d and -n must be positive")
	}
	hc := &http.Client{Timeout: *timeout, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: *clients}}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()

	var sent, ok, failed atomic.Int64
	var mu sync.Mutex
	kinds := map[string]int{}
	var firstFail, lastFail time.Time
	start := time.Now()
	one := func() {
		resp, err := hc.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
		}
		if err == nil {
			ok.Add(1)
			return
		}
		if ctx.Err() != nil {
			sent.Add(-1) // cut off by the end of the run, not a failure
			return
		}
		failed.Add(1)
		now := time.Now()
		mu.Lock()
		kinds[errKind(err)]++
		if firstFail.IsZero() {
			firstFail = now
		}
		lastFail = now
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && sent.Add(1) <= *max {
				one()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	fmt.Printf("load: start %s clients=%d duration=%s max=%d\n", url, *clients, *dur, *max)
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-tick.C:
			fmt.Printf("load: t=%.0fs ok=%d failed=%d\n", time.Since(start).Seconds(), ok.Load(), failed.Load())
		}
	}
	o, f := ok.Load(), failed.Load()
	ratio := 0.0
	if o+f > 0 {
		ratio = float64(o) / float64(o+f)
	}
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%dx %s", n, k))
	}
	sort.Strings(ks)
	window := ""
	if f > 0 {
		window = fmt.Sprintf(" failures_from=%.1fs failures_to=%.1fs", firstFail.Sub(start).Seconds(), lastFail.Sub(start).Seconds())
	}
	fmt.Printf("load: result ok=%d failed=%d ratio=%.5f seconds=%.1f%s\n", o, f, ratio, time.Since(start).Seconds(), window)
	if len(ks) > 0 {
		fmt.Printf("load: failures: %s\n", strings.Join(ks, "; "))
	}
	return nil
}

// errKind shortens an error to its kind (without addresses and ports that
// differ request to request), so that failures can be counted by kind.
func errKind(err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "connection reset", "timeout", "Client.Timeout", "EOF", "no route to host", "HTTP "} {
		if i := strings.Index(s, k); i >= 0 {
			if k == "HTTP " {
				return s[i:]
			}
			return k
		}
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
