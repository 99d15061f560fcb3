// Package broadcast is issue 20's broadcast benchmark: a 1 GiB object read
// by a task on each of 4 nodes at once, against one such read, on nodes
// that are separate hosts (network namespaces, internal/testnet) joined by
// links of a set rate — as machines on a network, where a transfer's time
// is its link's, not this machine's memory copies.
//
//	sudo GORAY_BROADCAST_BENCH=1 go test -v -timeout 30m ./runtime/integration/broadcast/
//
// GORAY_BROADCAST_RATE sets the links' rate (tc's notation; 400mbit by
// default) and GORAY_BROADCAST_ROUNDS the rounds (3).
package broadcast

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testnet"
	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/ray"
)

// driverEnv runs the test binary as the benchmark's driver, in the head's
// namespace, connected to the GCS at its value.
const driverEnv = "GORAY_BROADCAST_DRIVER"

func TestMain(m *testing.M) {
	if ray.IsWorker() {
		_ = ray.Init(context.Background())
	} else if gcs := os.Getenv(driverEnv); gcs != "" {
		os.Exit(driver(gcs))
	}
	os.Exit(m.Run())
}

// objectSize is the broadcast object's size.
const objectSize = 1 << 30

// pattern is the object's byte at offset i.
func pattern(i int) byte { return byte(i ^ i>>12) }

// readObject is the task that reads the object on its node: it checks a
// byte in every 4 KiB page and returns the object's length.
var readObject = ray.Task("bc.read_object", func(ctx context.Context, b []byte) (int, error) {
	for i := 0; i < len(b); i += 4093 {
		if b[i] != pattern(i) {
			return 0, fmt.Errorf("byte %d is %d, want %d", i, b[i], pattern(i))
		}
	}
	return len(b), nil
})

func TestBroadcastOverLinks(t *testing.T) {
	if os.Getenv("GORAY_BROADCAST_BENCH") == "" {
		t.Skip("GORAY_BROADCAST_BENCH=1 runs the 1 GiB broadcast benchmark")
	}
	if err := testnet.Available(); err != nil {
		t.Skip(err)
	}
	rate := cmp.Or(os.Getenv("GORAY_BROADCAST_RATE"), "400mbit")
	hosts, err := testnet.New("bc", 5, rate)
	if err != nil {
		t.Fatal(err)
	}
	defer hosts.Close()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "goray")
	if out, err := testproc.GoBuild(bin, "../../../cmd/goray").CombinedOutput(); err != nil {
		t.Fatalf("build goray: %v\n%s", err, out)
	}
	head := hosts.Hosts[0].IP
	gcs := net.JoinHostPort(head, "6379")
	start := func(i int, args ...string) {
		cmd := hosts.Command(i, bin, append([]string{"start", "--block", "--node-ip-address=" + hosts.Hosts[i].IP}, args...)...)
		dir := filepath.Join(tmp, "host"+strconv.Itoa(i))
		cmd.Env = append(os.Environ(), "GORAY_TMPDIR="+dir)
		logf, err := os.Create(dir + ".log")
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		testproc.DieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			_ = logf.Close()
		})
	}
	// The head holds the object (its node has no CPUs: no task runs there);
	// each of the others runs one reader.
	start(0, "--head", "--port=6379", "--num-cpus=0", "--object-store-memory=3000000000")
	for i := 1; i < len(hosts.Hosts); i++ {
		start(i, "--address="+gcs, "--num-cpus=1", "--object-store-memory=1500000000")
	}
	drv := hosts.Command(0, os.Args[0], "-test.run=^$")
	drv.Env = append(os.Environ(), driverEnv+"="+gcs, "GORAY_BROADCAST_LINK="+rate)
	drv.Stderr = os.Stderr
	out, err := drv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	testproc.DieWithParent(drv)
	if err := drv.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		t.Log(lines.Text())
	}
	if err := drv.Wait(); err != nil {
		t.Fatalf("driver: %v (the nodes' logs: %s)", err, tmp)
	}
}

// driver runs the rounds and prints each, then the median ratio.
func driver(gcs string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		ray.Shutdown()
		return 1
	}
	if err := ray.Init(ctx, ray.WithAddress(gcs)); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 1
	}
	defer ray.Shutdown()
	var nodes []string
	for deadline := time.Now().Add(time.Minute); len(nodes) < 4; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			return fail("only %d of 4 nodes joined", len(nodes))
		}
		all, err := ray.Nodes(ctx)
		if err != nil {
			continue
		}
		nodes = nodes[:0]
		for _, n := range all {
			if n.Alive && !n.IsHead {
				nodes = append(nodes, n.NodeId)
			}
		}
	}
	slices.Sort(nodes)
	// A worker on each node first: the rounds time transfers, not starts.
	for _, id := range nodes {
		if _, err := ray.Get(ctx, readObject.Remote(ctx, []byte{pattern(0)}, ray.NodeAffinity(id, false))); err != nil {
			return fail("warm-up on %s: %v", id, err)
		}
	}
	obj := make([]byte, objectSize)
	for i := range obj {
		obj[i] = pattern(i)
	}
	// read times the reads of a fresh object on nodes on, and lists when
	// each ended.
	read := func(on []string) (time.Duration, []string, error) {
		ref, err := ray.Put(ctx, obj)
		if err != nil {
			return 0, nil, err
		}
		defer ref.Release()
		t0 := time.Now()
		ends := make(chan error, len(on))
		var times []string
		for _, id := range on {
			r := readObject.Remote(ctx, ref, ray.NodeAffinity(id, false))
			go func() {
				n, err := ray.Get(ctx, r)
				if err == nil && n != objectSize {
					err = fmt.Errorf("read %d bytes", n)
				}
				ends <- err
			}()
		}
		for range on {
			if err := <-ends; err != nil {
				return 0, nil, err
			}
			times = append(times, fmt.Sprintf("%.1f", time.Since(t0).Seconds()))
		}
		return time.Since(t0), times, nil
	}
	rounds, _ := strconv.Atoi(cmp.Or(os.Getenv("GORAY_BROADCAST_ROUNDS"), "3"))
	link := os.Getenv("GORAY_BROADCAST_LINK")
	var ratios []float64
	for round := 1; round <= rounds; round++ {
		one, _, err := read(nodes[:1])
		if err != nil {
			return fail("round %d, one copy: %v", round, err)
		}
		four, ends, err := read(nodes)
		if err != nil {
			return fail("round %d, four copies: %v", round, err)
		}
		r := four.Seconds() / one.Seconds()
		ratios = append(ratios, r)
		fmt.Printf("round %d: one copy %.2f s (%.0f MB/s), to 4 nodes %.2f s (the reads ended at %s s): %.2f× one copy\n",
			round, one.Seconds(), objectSize/one.Seconds()/1e6, four.Seconds(), strings.Join(ends, ", "), r)
	}
	slices.Sort(ratios)
	fmt.Printf("broadcast of 1 GiB to 4 nodes over %s links: median %.2f× one copy (%d rounds: %s)\n",
		link, ratios[len(ratios)/2], rounds, strings.Trim(fmt.Sprint(ratios), "[]"))
	return 0
}
