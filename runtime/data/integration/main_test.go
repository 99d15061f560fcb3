// Package integration runs goray Data pipelines on a real cluster: a head
// (`goray start --head`, no CPUs: the driver's node) and, per test, two
// worker nodes as separate `goray start` processes on loopback addresses,
// with this test binary as the driver and, exec'd by the node managers, as
// the worker processes. Each test starts and stops its own worker nodes,
// so a test that kills one leaves nothing behind for the next (the tests
// run in any order, -shuffle=on).
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/goray-dev/goray/internal/testproc"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

var (
	// gorayBin is the runtime's CLI, tmpDir the session directory of the
	// cluster, gcsAddress the head's GCS.
	gorayBin, tmpDir, gcsAddress string
	// headAddr is the head's node manager (host:port).
	headAddr string
)

// headStoreBytes is the head's object store: the driver's node, which
// holds only what the driver puts (block metadata comes inline).
const headStoreBytes = 16 << 20

func TestMain(m *testing.M) {
	if ray.IsWorker() {
		_ = ray.Init(context.Background()) // serves tasks; does not return
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "goray-data-it-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	tmpDir = tmp
	gorayBin = filepath.Join(tmp, "goray")
	if out, err := testproc.GoBuild(gorayBin, "../../../cmd/goray").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build goray: %v\n%s", err, out)
		return 1
	}
	testproc.CollectRaces(tmp)
	gcsAddress = "127.0.0.1:" + strconv.Itoa(testproc.MustFreePort("127.0.0.1"))
	head := startProcess("127.0.0.1", "--head", "--port="+gcsAddress[len("127.0.0.1:"):], "--num-cpus=0",
		"--object-store-memory="+strconv.Itoa(headStoreBytes), "--dashboard-port="+strconv.Itoa(testproc.MustFreePort("127.0.0.1")))
	defer func() {
		_ = head.Process.Kill()
		_ = head.Wait()
	}()
	ctx := context.Background()
	if err := ray.Init(ctx, ray.WithAddress(gcsAddress)); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 1
	}
	defer ray.Shutdown()
	for deadline := time.Now().Add(30 * time.Second); headAddr == ""; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "the head did not come up")
			return 1
		}
		nodes, _ := ray.Nodes(ctx)
		for _, n := range nodes {
			if n.Alive && n.Ip == "127.0.0.1" {
				headAddr = n.Address
			}
		}
	}
	return testproc.RunCheckingRaces(m, tmp)
}

// startProcess starts `goray start` on ip with args, its output in the
// session directory; it dies with this process.
func startProcess(ip string, args ...string) *exec.Cmd {
	args = append([]string{"start", "--block", "--node-ip-address=" + ip, "--metrics-export-port=0", "--serve-port=0",
		"--dashboard-agent-listen-port=" + strconv.Itoa(testproc.MustFreePort(ip))}, args...)
	cmd := exec.Command(gorayBin, args...)
	cmd.Env = append(os.Environ(), "GORAY_TMPDIR="+tmpDir, "GORAY_HEALTH_TIMEOUT=1s")
	logf, err := os.OpenFile(filepath.Join(tmpDir, "node-"+ip+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		panic(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	testproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	return cmd
}

// node is a worker node a test started.
type node struct {
	ip, id, addr string
	cmd          *exec.Cmd
	kill         func() // SIGKILL to its workers and to it (by pid); waits for it
}

// startNodes starts a worker node on each ip with args and returns them
// once the cluster lists them alive. They are killed when the test ends,
// and the test waits until the cluster knows they are dead.
func startNodes(t *testing.T, ips []string, args ...string) []*node {
	t.Helper()
	ctx := context.Background()
	seen := map[string]bool{} // nodes of an earlier run (-count) at the same ips
	nodes, _ := ray.Nodes(ctx)
	for _, n := range nodes {
		seen[n.NodeId] = true
	}
	var out []*node
	for _, ip := range ips {
		cmd := startProcess(ip, append([]string{"--address=" + gcsAddress}, args...)...)
		n := &node{ip: ip, cmd: cmd}
		var once sync.Once
		n.kill = func() {
			once.Do(func() {
				for _, c := range testproc.Children(cmd.Process.Pid) {
					_ = syscall.Kill(c, syscall.SIGKILL)
				}
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
		}
		out = append(out, n)
	}
	t.Cleanup(func() {
		for _, n := range out {
			n.kill()
		}
		// Leave once the cluster knows the nodes are dead: until then
		// schedulers may still send work there.
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			alive := false
			nodes, _ := ray.Nodes(ctx)
			for _, v := range nodes {
				for _, n := range out {
					alive = alive || (v.Alive && v.NodeId == n.id)
				}
			}
			if !alive {
				return
			}
		}
		t.Errorf("nodes %v still listed alive 30 s after they were killed", ips)
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		up := 0
		nodes, _ := ray.Nodes(ctx)
		for _, v := range nodes {
			for _, n := range out {
				if v.Alive && v.Ip == n.ip && !seen[v.NodeId] {
					n.id, n.addr = v.NodeId, v.Address
				}
			}
		}
		for _, n := range out {
			if n.id != "" {
				up++
			}
		}
		if up == len(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes %v did not come up", ips)
		}
	}
}

// storeSampler samples the object stores of some nodes (their own stats,
// over gRPC) every few milliseconds: the peak of their summed use, and
// what they spilled.
type storeSampler struct {
	mu       sync.Mutex
	peak     int64
	spilled  int64
	samples  int
	capacity int64
	stop     chan struct{}
	done     chan struct{}
}

// sampleStores starts sampling the stores at addrs (node managers).
func sampleStores(t *testing.T, addrs []string) *storeSampler {
	t.Helper()
	var clients []rpcpb.NodeManagerClient
	for _, a := range addrs {
		conn, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		clients = append(clients, rpcpb.NewNodeManagerClient(conn))
	}
	s := &storeSampler{stop: make(chan struct{}), done: make(chan struct{})}
	// The capacity now, while every node answers.
	for _, c := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := c.GetNodeStats(ctx, &rpcpb.Empty{})
		cancel()
		if err != nil {
			t.Fatalf("node stats: %v", err)
		}
		s.capacity += st.StoreCapacity
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		spilled := make([]int64, len(clients))
		for {
			var used int64
			for i, c := range clients {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				st, err := c.GetNodeStats(ctx, &rpcpb.Empty{})
				cancel()
				if err != nil {
					continue // a killed node: its store is gone
				}
				used += st.StoreUsed
				spilled[i] = max(spilled[i], st.SpilledBytes)
			}
			s.mu.Lock()
			s.peak = max(s.peak, used)
			s.spilled = 0
			for _, b := range spilled {
				s.spilled += b
			}
			s.samples++
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns the peak use, the bytes spilled and
// the number of samples.
func (s *storeSampler) finish() (peak, spilled int64, samples int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.spilled, s.samples
}
