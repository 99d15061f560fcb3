package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/examples/streaming"
	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// trivial is the benchmark's handler: what hello's Hello answers on "/".
func trivial(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintln(w, "Hello from goray serve!")
}

// plainServer serves trivial, and examples/streaming's event stream at
// /stream/events, with plain net/http until killed (the floor).
func plainServer(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", trivial)
	mux.HandleFunc("/stream/events", streaming.Events)
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// benchConfig deploys the request cells' Hello replica.
const benchConfig = `
applications:
  - name: bench
    route_prefix: /
    import_path: hello
    deployments: [{name: Hello, num_replicas: 1, max_ongoing_requests: 100}]
`

// TestServeBenchmark (GORAY_SERVE_BENCH=1) measures requests/s and p50/p99
// latency at 1, 16 and 64 closed-loop clients through a node's proxy to one
// Hello replica, against the same handler served by plain net/http in its own
// process, in the same run: plain and serve alternate in 5 rounds; each
// cell is the median round, and "vs plain" the median of the rounds' serve
// to plain ratios (each ratio pairs runs seconds apart, which keeps the
// shared machine's slow swings out of it). GORAY_SERVE_BENCH_SECONDS sets a
// run's length (3).
//
// The streaming cell reads examples/streaming's event stream (1,000 events
// per response, each flushed on its own, no pause between them) on
// GORAY_SERVE_BENCH_STREAMS concurrent streams (4; 0 skips the cell), from
// the same handler served by plain net/http and through the proxy to one
// Stream replica, alternating in the same rounds: tokens/s, and the median
// time to a response's first token.
func TestServeBenchmark(t *testing.T) {
	if os.Getenv("GORAY_SERVE_BENCH") == "" {
		t.Skip("set GORAY_SERVE_BENCH=1 to run the serve benchmark")
	}
	secs := 3 * time.Second
	if v := os.Getenv("GORAY_SERVE_BENCH_SECONDS"); v != "" {
		if d, err := time.ParseDuration(v + "s"); err == nil {
			secs = d
		}
	}
	deploy(t, benchConfig)
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "bench RUNNING", appRunning("bench"))
	plainAddr := fmt.Sprintf("%s:%d", workerIP, testproc.MustFreePort(workerIP))
	exe, _ := os.Executable()
	plain := exec.Command(exe)
	plain.Env = append(os.Environ(), "GORAY_SERVE_PLAIN_HTTP="+plainAddr)
	testproc.DieWithParent(plain)
	if err := plain.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Process.Kill(); _ = plain.Wait() })
	if err := waitHTTP("http://" + plainAddr + "/"); err != nil {
		t.Fatal(err)
	}
	targets := []struct{ name, url string }{
		{"plain net/http", "http://" + plainAddr + "/"},
		{"goray serve (proxy -> replica)", proxyURL(workerIP, "/")},
	}
	// The machine is shared: alternate plain and serve runs in rounds and
	// report each one's median round.
	rounds := 5
	var rows []string
	cells := []int{1, 16, 64}
	if v := os.Getenv("GORAY_SERVE_BENCH_CLIENTS"); v != "" { // e.g. "16" or "1,64"
		cells = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				t.Fatalf("GORAY_SERVE_BENCH_CLIENTS=%q: want client counts like 1,16,64", v)
			}
			cells = append(cells, n)
		}
	}
	for _, clients := range cells {
		runs := make([][]LoadResult, len(targets))
		for round := 0; round < rounds; round++ {
			for i, tg := range targets {
				warm, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				Load(warm, tg.url, clients, false)
				cancel()
				ctx, cancel := context.WithTimeout(context.Background(), secs)
				r := Load(ctx, tg.url, clients, false)
				cancel()
				if r.Failures > 0 {
					t.Errorf("%s: %v %q", tg.name, r, r.FirstErrs)
				}
				runs[i] = append(runs[i], r)
				t.Log(tg.name, r)
			}
		}
		ratios := make([]float64, rounds)
		for round := range ratios {
			ratios[round] = runs[1][round].RPS() / runs[0][round].RPS()
		}
		sort.Float64s(ratios)
		for i, tg := range targets {
			sort.Slice(runs[i], func(a, b int) bool { return runs[i][a].RPS() < runs[i][b].RPS() })
			r := runs[i][rounds/2]
			ratio := ""
			if i == 1 {
				ratio = fmt.Sprintf("%.0f%% (rounds %.0f–%.0f%%)", 100*ratios[rounds/2], 100*ratios[0], 100*ratios[rounds-1])
			}
			rows = append(rows, fmt.Sprintf("| %d | %s | %.0f | %v | %v | %s |", clients, tg.name, r.RPS(),
				r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), ratio))
		}
	}
	streams := 4
	if v := os.Getenv("GORAY_SERVE_BENCH_STREAMS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			t.Fatalf("GORAY_SERVE_BENCH_STREAMS=%q: want a number of streams (0 skips the cell)", v)
		}
		streams = n
	}
	if streams > 0 {
		// The streaming application only now: its replicas (and the
		// controller's checks of them) are not there while the request
		// cells run, which stay as they were before it existed.
		deploy(t, benchConfig+`
  - name: streaming
    route_prefix: /stream
    import_path: streaming
    deployments: [{name: Stream, num_replicas: 1, max_ongoing_requests: 100}, {name: Tokens, num_replicas: 1}]
`)
		waitFor(t, "streaming RUNNING", func(d *schema.ServeInstanceDetails) bool { return appRunning("bench")(d) && appRunning("streaming")(d) })
		rows = append(rows, streamCell(t, plainAddr, streams, rounds, secs)...)
	}
	host, _ := os.Hostname()
	fmt.Printf("\nserve benchmark, %s, %s, %d CPUs (GOMAXPROCS %d), median of %d rounds of %s per cell\n\n", time.Now().Format("2006-01-02"), host,
		runtime.NumCPU(), runtime.GOMAXPROCS(0), rounds, secs)
	fmt.Println("| clients | server | requests/s | p50 | p99 | vs plain |")
	fmt.Println("|---|---|---|---|---|---|")
	fmt.Println(strings.Join(rows, "\n"))
}

// streamCell runs the streaming cell: rounds of plain, then serve, each
// reading event streams for secs; rows in the table's columns (requests/s
// is tokens/s, p50 the time to a response's first token, p99 not measured).
func streamCell(t *testing.T, plainAddr string, streams, rounds int, secs time.Duration) []string {
	const q = "/stream/events?n=1000&interval_ms=0"
	targets := []struct{ name, url string }{
		{"plain net/http, event stream", "http://" + plainAddr + q},
		{"goray serve, event stream (proxy -> replica)", proxyURL(workerIP, q)},
	}
	runs := make([][]StreamResult, len(targets))
	for round := 0; round < rounds; round++ {
		for i, tg := range targets {
			warm, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			StreamLoad(warm, tg.url, streams)
			cancel()
			ctx, cancel := context.WithTimeout(context.Background(), secs)
			r := StreamLoad(ctx, tg.url, streams)
			cancel()
			if r.Failures > 0 || r.Responses == 0 {
				t.Errorf("%s: %v %q", tg.name, r, r.FirstErrs)
			}
			runs[i] = append(runs[i], r)
			t.Log(tg.name, r)
		}
	}
	ratios := make([]float64, rounds)
	for round := range ratios {
		ratios[round] = runs[1][round].TokensPerSecond() / runs[0][round].TokensPerSecond()
	}
	sort.Float64s(ratios)
	var rows []string
	for i, tg := range targets {
		sort.Slice(runs[i], func(a, b int) bool { return runs[i][a].TokensPerSecond() < runs[i][b].TokensPerSecond() })
		r := runs[i][rounds/2]
		ratio := ""
		if i == 1 {
			ratio = fmt.Sprintf("%.0f%% (rounds %.0f–%.0f%%)", 100*ratios[rounds/2], 100*ratios[0], 100*ratios[rounds-1])
		}
		rows = append(rows, fmt.Sprintf("| %d streams | %s | %.0f tokens/s | %v (first token) | – | %s |", streams, tg.name, r.TokensPerSecond(),
			r.FirstP50.Round(time.Microsecond), ratio))
	}
	return rows
}
