package collective

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
)

// fileRendezvous meets through files in a directory: members in separate
// processes of one machine.
type fileRendezvous struct{ dir string }

func (r fileRendezvous) path(key string) string {
	return filepath.Join(r.dir, strings.ReplaceAll(key, "/", "_"))
}

func (r fileRendezvous) Put(ctx context.Context, key, value string) error {
	tmp := r.path(key) + ".tmp"
	if err := os.WriteFile(tmp, []byte(value), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.path(key))
}

func (r fileRendezvous) Get(ctx context.Context, key string) (string, bool, error) {
	b, err := os.ReadFile(r.path(key))
	if os.IsNotExist(err) {
		return "", false, nil
	}
	return string(b), err == nil, err
}

func (r fileRendezvous) Delete(ctx context.Context, key string) error { return os.Remove(r.path(key)) }

func TestMain(m *testing.M) {
	if os.Getenv("GORAY_COLLECTIVE_MEMBER") != "" {
		if err := benchMember(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// benchMember is one member process of the benchmark: reps AllReduces of
// the given number of float32s, each time printed (ns) as a JSON list.
func benchMember() error {
	env := func(k string) int { n, _ := strconv.Atoi(os.Getenv(k)); return n }
	rank, size, elems, reps := env("GORAY_COLLECTIVE_MEMBER")-1, env("GORAY_COLLECTIVE_SIZE"), env("GORAY_COLLECTIVE_ELEMS"), env("GORAY_COLLECTIVE_REPS")
	if v := os.Getenv("GORAY_COLLECTIVE_SOCKBUF"); v != "" {
		socketBuffer = env("GORAY_COLLECTIVE_SOCKBUF")
	}
	if v := os.Getenv("GORAY_COLLECTIVE_SEGMENT"); v != "" {
		reduceSegment = env("GORAY_COLLECTIVE_SEGMENT")
	}
	sec := auth.NewToken("bench")
	g, err := Init(context.Background(), os.Getenv("GORAY_COLLECTIVE_NAME"), size, rank,
		Options{Rendezvous: fileRendezvous{os.Getenv("GORAY_COLLECTIVE_DIR")}, Security: &sec, Timeout: time.Minute,
			NoSharedMemory: os.Getenv("GORAY_COLLECTIVE_SHM") == "0"})
	if err != nil {
		return err
	}
	defer g.Close()
	if want := os.Getenv("GORAY_COLLECTIVE_SHM") != "0"; g.useShm != want {
		return fmt.Errorf("rank %d: the group uses shared memory: %v, want %v", rank, g.useShm, want)
	}
	buf := make([]float32, elems)
	for i := range buf {
		buf[i] = float32(i % 1000)
	}
	var times []int64
	for range reps {
		if err := Barrier(context.Background(), g); err != nil {
			return err
		}
		t0 := time.Now()
		if err := AllReduce(context.Background(), g, buf, Sum); err != nil {
			return err
		}
		times = append(times, time.Since(t0).Nanoseconds())
	}
	return json.NewEncoder(os.Stdout).Encode(times)
}

// allReduceProcs runs reps AllReduces of bytes among size member processes
// and returns each rep's time: the slowest member's.
func allReduceProcs(t *testing.T, size, bytes, reps, segment, sockbuf int, shm bool) []time.Duration {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	name := fmt.Sprintf("bench-%d-%d", size, time.Now().UnixNano())
	cmds := make([]*exec.Cmd, size)
	outs := make([]*strings.Builder, size)
	for r := range size {
		c := exec.Command(exe, "-test.run=^$")
		c.Env = append(os.Environ(), "GORAY_COLLECTIVE_MEMBER="+strconv.Itoa(r+1), "GORAY_COLLECTIVE_SIZE="+strconv.Itoa(size),
			"GORAY_COLLECTIVE_ELEMS="+strconv.Itoa(bytes/4), "GORAY_COLLECTIVE_REPS="+strconv.Itoa(reps),
			"GORAY_COLLECTIVE_NAME="+name, "GORAY_COLLECTIVE_DIR="+dir, "GORAY_COLLECTIVE_SEGMENT="+strconv.Itoa(segment),
			"GORAY_COLLECTIVE_SOCKBUF="+strconv.Itoa(sockbuf), "GORAY_COLLECTIVE_SHM="+map[bool]string{true: "1", false: "0"}[shm])
		outs[r] = &strings.Builder{}
		c.Stdout, c.Stderr = outs[r], os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[r] = c
	}
	worst := make([]time.Duration, reps)
	for r, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("member %d: %v", r, err)
		}
		var ns []int64
		if err := json.Unmarshal([]byte(outs[r].String()), &ns); err != nil || len(ns) != reps {
			t.Fatalf("member %d printed %q", r, outs[r].String())
		}
		for i, d := range ns {
			worst[i] = max(worst[i], time.Duration(d))
		}
	}
	return worst
}

// loopbackTCP is the floor: one TCP stream over loopback carrying bytes,
// with the socket buffers the group's connections have.
func loopbackTCP(t *testing.T, bytes int) time.Duration {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	done := make(chan error, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			done <- err
			return
		}
		tune(c)
		defer c.Close()
		_, err = io.CopyN(io.Discard, c, int64(bytes))
		done <- err
	}()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tune(c)
	defer c.Close()
	buf := make([]byte, bytes)
	t0 := time.Now()
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return time.Since(t0)
}

// TestAllReduceBandwidth (GORAY_COLLECTIVE_BENCH=1) is issue 19's
// benchmark: AllReduce of 100 MB of float32 among 2 and 4 member
// processes against one loopback TCP stream (the floor), alternating in
// the same rounds: the members through shared memory (the default for
// members of one machine) and through the ring's TCP connections. Bus
// bandwidth is what each link carries: size × 2(n-1)/n over the time.
//
//	GORAY_COLLECTIVE_BENCH=1 go test -run TestAllReduceBandwidth -v ./runtime/collective/
func TestAllReduceBandwidth(t *testing.T) {
	if os.Getenv("GORAY_COLLECTIVE_BENCH") == "" {
		t.Skip("GORAY_COLLECTIVE_BENCH=1 runs it")
	}
	const size = 100 << 20
	rounds, _ := strconv.Atoi(os.Getenv("GORAY_COLLECTIVE_ROUNDS"))
	if rounds <= 0 {
		rounds = 5
	}
	gbps := func(bytes float64, d time.Duration) float64 { return bytes / d.Seconds() / 1e9 }
	// Ring variants, alternating in every round: the members' socket
	// buffers (GORAY_COLLECTIVE_SOCKBUFS, bytes, comma-separated; the
	// default only if unset) and, with GORAY_COLLECTIVE_COMPARE=1, the
	// reduction each part at once as well as in pieces. The floor is one
	// loopback stream with each of those socket buffers: the best counts.
	bufs := []int{socketBuffer}
	if v := os.Getenv("GORAY_COLLECTIVE_SOCKBUFS"); v != "" {
		bufs = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				t.Fatalf("GORAY_COLLECTIVE_SOCKBUFS: %q", v)
			}
			bufs = append(bufs, n)
		}
	}
	segments := []int{reduceSegment}
	if os.Getenv("GORAY_COLLECTIVE_COMPARE") != "" {
		segments = append(segments, 0)
	}
	type variant struct {
		n, segment, buf int
		shm             bool
	}
	var variants []variant
	for _, n := range []int{2, 4} {
		variants = append(variants, variant{n: n, shm: true})
		for _, b := range bufs {
			for _, seg := range segments {
				variants = append(variants, variant{n, seg, b, false})
			}
		}
	}
	defer func(b int) { socketBuffer = b }(socketBuffer)
	floor := map[int][]float64{}
	bus := map[variant][]float64{}
	for range rounds {
		for _, b := range bufs {
			socketBuffer = b
			floor[b] = append(floor[b], gbps(size, loopbackTCP(t, size)))
		}
		for _, v := range variants {
			d := slices.Min(allReduceProcs(t, v.n, size, 3, v.segment, max(v.buf, 1), v.shm))
			bus[v] = append(bus[v], gbps(size*2*float64(v.n-1)/float64(v.n), d))
		}
	}
	med := func(xs []float64) float64 { s := slices.Clone(xs); slices.Sort(s); return s[len(s)/2] }
	best := 0.0
	for _, b := range bufs {
		t.Logf("loopback TCP, one stream, socket buffers of %d bytes: %.2f GB/s (median of %d; rounds %.2f)", b, med(floor[b]), rounds, floor[b])
		best = max(best, med(floor[b]))
	}
	for _, v := range variants {
		x := bus[v]
		how := "through shared memory"
		if !v.shm {
			how = fmt.Sprintf("over the TCP ring, socket buffers %d, reduced in pieces of %d bytes (0: a part at once)", v.buf, v.segment)
		}
		t.Logf("AllReduce 100 MB float32, %d processes %s: bus bandwidth %.2f GB/s = %.0f%% of the best loopback (algorithm bandwidth %.2f GB/s; rounds %.2f)",
			v.n, how, med(x), 100*med(x)/best, med(x)*float64(v.n)/(2*float64(v.n-1)), x)
	}
}
