// Package integration runs a real cluster: a head and two worker nodes as
// separate `goray start` processes on 127.0.0.1/2/3, with this test binary as
// the driver (and, exec'd by the node managers, as the worker processes).
package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/internal/testproc"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

var (
	procs = map[string]*exec.Cmd{} // node ip -> process
	// nodeEnv is more environment for the node started at an ip (a test
	// sets it before startOwnNode).
	nodeEnv = map[string][]string{}
	// startNode starts one more `goray start` process; gcsAddress is the head's.
	startNode  func(ip string, args ...string)
	gcsAddress string
	nodeIDs    = map[string]string{} // node ip -> node id
	addrs      = map[string]string{} // node ip -> node manager address
	// dashboardAddress is the head's dashboard (host:port); gorayBin the CLI.
	dashboardAddress, gorayBin string
	// metricsPorts and servePorts: node ip -> its metrics and serve proxy
	// ports (metrics_test.go scrapes and calls them); free ports, not 8000,
	// so that two clusters on this machine do not share a proxy port.
	metricsPorts, servePorts = map[string]int{}, map[string]int{}
)

var whereAmI = ray.Task("it.where", func(ctx context.Context, sleepMs int) (string, error) {
	time.Sleep(time.Duration(sleepMs) * time.Millisecond)
	return ray.NodeID(), nil
})

var crashOnce = ray.Task("it.crash_once", func(ctx context.Context, marker string) (int, error) {
	if _, err := os.Stat(marker); err != nil {
		_ = os.WriteFile(marker, nil, 0o644)
		os.Exit(3) // the worker process dies mid-task
	}
	return 42, nil
})

var blob = ray.Task2("it.blob", func(ctx context.Context, size int, fill int) ([]byte, error) {
	return bytes.Repeat([]byte{byte(fill)}, size), nil
})

type state struct{ calls int }

var stateful = ray.Actor("it.Stateful", func(ctx context.Context) (*state, error) { return &state{}, nil })

var actorWhere = ray.Method0(stateful, "where", func(s *state, ctx context.Context) (string, error) {
	s.calls++
	return ray.NodeID(), nil
})

var schedulerWidth = ray.Task("it.gomaxprocs", func(ctx context.Context, _ int) (int, error) { return runtime.GOMAXPROCS(0), nil })

var actorSchedulerWidth = ray.Method0(stateful, "gomaxprocs", func(s *state, ctx context.Context) (int, error) {
	return runtime.GOMAXPROCS(0), nil
})

func TestMain(m *testing.M) {
	if ray.IsWorker() {
		_ = ray.Init(context.Background())
	} else if addr := os.Getenv("GORAY_IT_SUBDRIVER"); addr != "" {
		os.Exit(subDriver(addr))
	} else if arg := os.Getenv(dyingDriverEnv); arg != "" {
		os.Exit(dyingDriver(arg))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "goray-it-")
	if err != nil {
		panic(err)
	}
	// GORAY_IT_KEEP=1 keeps the nodes' logs (and the rest) for a look after.
	if os.Getenv("GORAY_IT_KEEP") == "" {
		defer os.RemoveAll(tmp)
	} else {
		fmt.Fprintf(os.Stderr, "GORAY_IT_KEEP: the cluster's files stay in %s\n", tmp)
	}
	bin := filepath.Join(tmp, "goray")
	if out, err := testproc.GoBuild(bin, "../../cmd/goray").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build goray: %v\n%s", err, out)
		return 1
	}
	gcsPort := testproc.MustFreePort("127.0.0.1")
	agentPort := testproc.MustFreePort("127.0.0.1")
	testproc.CollectRaces(tmp)
	env := append(os.Environ(), "GORAY_TMPDIR="+tmp, "GORAY_HEALTH_TIMEOUT=1s")
	start := func(ip string, args ...string) {
		metricsPorts[ip], servePorts[ip] = testproc.MustFreePort("127.0.0.1"), testproc.MustFreePort("127.0.0.1")
		args = append([]string{"start", "--block", "--node-ip-address=" + ip, "--metrics-export-port=" + strconv.Itoa(metricsPorts[ip]),
			"--serve-port=" + strconv.Itoa(servePorts[ip]),
			"--dashboard-agent-listen-port=" + strconv.Itoa(agentPort)}, args...)
		cmd := exec.Command(bin, args...)
		cmd.Env = slices.Concat(env, []string{"RAY_CLOUD_INSTANCE_ID=pod-" + ip, "RAY_NODE_TYPE_NAME=group-" + ip}, nodeEnv[ip])
		logf, _ := os.Create(filepath.Join(tmp, "node-"+ip+".log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		testproc.DieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		procs[ip] = cmd
	}
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			_ = p.Wait()
		}
	}()
	gcs := "127.0.0.1:" + strconv.Itoa(gcsPort)
	startNode, gcsAddress = start, gcs
	dashPort := testproc.MustFreePort("127.0.0.1")
	dashboardAddress, gorayBin = "127.0.0.1:"+strconv.Itoa(dashPort), bin
	start("127.0.0.1", "--head", "--port="+strconv.Itoa(gcsPort), "--num-cpus=1", "--dashboard-port="+strconv.Itoa(dashPort))
	// Labels in both of goray start's forms (labels_test.go).
	start("127.0.0.2", "--address="+gcs, "--num-cpus=2", "--object-store-memory=4000000", "--labels=zone=a,disk=ssd")
	start("127.0.0.3", "--address="+gcs, "--num-cpus=2", "--object-store-memory=4000000", `--labels={"zone": "b"}`)
	ctx := context.Background()
	if err := ray.Init(ctx, ray.WithAddress(gcs)); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 1
	}
	defer ray.Shutdown()
	deadline := time.Now().Add(30 * time.Second)
	for len(nodeIDs) < 3 {
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "cluster did not come up with 3 nodes")
			return 1
		}
		nodes, _ := ray.Nodes(ctx)
		for _, n := range nodes {
			if n.Alive {
				nodeIDs[n.Ip], addrs[n.Ip] = n.NodeId, n.Address
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return testproc.RunCheckingRaces(m, tmp)
}

func nodeClient(t *testing.T, ip string) rpcpb.NodeManagerClient { return nodeClientAt(t, addrs[ip]) }

func nodeClientAt(t *testing.T, addr string) rpcpb.NodeManagerClient {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return rpcpb.NewNodeManagerClient(conn)
}

func TestNodesCarryPodIdentity(t *testing.T) {
	nodes, err := ray.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.InstanceId != "pod-"+n.Ip || n.NodeTypeName != "group-"+n.Ip {
			t.Errorf("node %s: instance %q type %q", n.Ip, n.InstanceId, n.NodeTypeName)
		}
	}
}

func TestTasksAndActorsSpread(t *testing.T) {
	ctx := context.Background()
	var refs []ray.Ref[string]
	for i := 0; i < 10; i++ {
		refs = append(refs, whereAmI.Remote(ctx, 100, ray.SchedulingSpread()))
	}
	where, err := ray.GetAll(ctx, refs...)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, n := range where {
		seen[n]++
	}
	if len(seen) < 2 {
		t.Fatalf("tasks ran on %d node(s): %v", len(seen), seen)
	}
	actorNodes := map[string]bool{}
	for i := 0; i < 3; i++ {
		h, err := stateful.Remote(ctx, ray.SchedulingSpread())
		if err != nil {
			t.Fatal(err)
		}
		n, err := ray.Get(ctx, actorWhere.Remote(ctx, h))
		if err != nil {
			t.Fatal(err)
		}
		actorNodes[n] = true
		_ = ray.Kill(ctx, h, true)
	}
	if len(actorNodes) < 2 {
		t.Fatalf("actors ran on %d node(s)", len(actorNodes))
	}
}

// A task's worker runs with GOMAXPROCS = the task's CPUs (at least one, at
// most the machine's default), as Ray sets a worker's OMP_NUM_THREADS; a
// worker that then hosts an actor gets the default back. Over the nodes'
// unix sockets: every node runs on this machine.
func TestWorkerSchedulerFitsTheLease(t *testing.T) {
	if os.Getenv("GOMAXPROCS") != "" {
		t.Skip("GOMAXPROCS is set in the environment: workers keep it")
	}
	prev := runtime.GOMAXPROCS(0)
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(prev)
	ctx := context.Background()
	for _, tc := range []struct {
		cpus float64
		want int
	}{{1, 1}, {2, min(2, def)}, {0.5, 1}} {
		got, err := ray.Get(ctx, schedulerWidth.Remote(ctx, 0, ray.NumCPUs(tc.cpus)))
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("a %v-CPU task ran with GOMAXPROCS %d, want %d", tc.cpus, got, tc.want)
		}
	}
	h, err := stateful.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, h, true) }()
	if got, err := ray.Get(ctx, actorSchedulerWidth.Remote(ctx, h)); err != nil || got != def {
		t.Errorf("an actor's worker runs with GOMAXPROCS %d (%v), want the default %d", got, err, def)
	}
}

func TestKilledWorkerTaskIsRetried(t *testing.T) {
	ctx := context.Background()
	marker := filepath.Join(t.TempDir(), "crashed")
	got, err := ray.Get(ctx, crashOnce.Remote(ctx, marker))
	if err != nil || got != 42 {
		t.Fatalf("got %d, %v", got, err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the first attempt did not run")
	}
	// Without retries the crash surfaces as a typed error.
	marker2 := filepath.Join(t.TempDir(), "crashed")
	_, err = ray.Get(ctx, crashOnce.Remote(ctx, marker2, ray.MaxRetries(0)))
	var wc *ray.WorkerCrashedError
	if !errors.As(err, &wc) {
		t.Fatalf("want WorkerCrashedError, got %v", err)
	}
}

func TestSpillRestoreAndFree(t *testing.T) {
	ctx := context.Background()
	node2 := nodeClient(t, "127.0.0.2")
	var refs []ray.Ref[[]byte]
	for i := 0; i < 8; i++ { // 8 MB into a 4 MB store
		refs = append(refs, blob.Remote(ctx, 1<<20, i, ray.NodeAffinity(nodeIDs["127.0.0.2"], false)))
	}
	if _, _, err := ray.Wait(ctx, refs, len(refs), 0); err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		b, err := ray.Get(ctx, r)
		if err != nil || len(b) != 1<<20 || b[0] != byte(i) || b[len(b)-1] != byte(i) {
			t.Fatalf("object %d: len %d err %v", i, len(b), err)
		}
	}
	st, _ := node2.GetNodeStats(ctx, &rpcpb.Empty{})
	if st.SpilledObjects == 0 || st.RestoredObjects == 0 || st.StoreUsed > st.StoreCapacity {
		t.Fatalf("expected spilling and restoring within capacity: %+v", st)
	}
	ids := make([]string, len(refs))
	for i, r := range refs {
		ids[i] = r.ID()
	}
	clear(refs) // drop the refs: their release frees the objects
	// Each of them gone from node 2, in memory and spilled: the test looks
	// at its own objects, not the store's totals, which the other tests'
	// objects (freed or spilled meanwhile) change too.
	deadline := time.Now().Add(15 * time.Second)
	for {
		runtime.GC()
		left := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return !onNode(t, node2, id) })
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the 8 objects still on node 2 15 s after their refs were dropped", len(left))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// onNode reports whether the node holds object id (in memory or spilled).
func onNode(t *testing.T, node rpcpb.NodeManagerClient, id string) bool {
	t.Helper()
	st, err := node.FetchObject(context.Background(), &rpcpb.FetchObjectRequest{Id: id})
	if err == nil {
		_, err = st.Recv()
	}
	if err != nil && status.Code(err) != codes.NotFound {
		t.Fatalf("fetch %s: %v", id, err)
	}
	return err == nil
}

type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error)   { return v.([]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error { *(v.(*[]byte)) = b; return nil }
func (rawCodec) Name() string                    { return "proto" }

var _ encoding.Codec = rawCodec{}

func TestMalformedRequestIsRejected(t *testing.T) {
	conn, err := grpc.NewClient(addrs["127.0.0.2"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []byte
	err = conn.Invoke(ctx, "/goray.rpc.NodeManager/RequestWorkerLease", []byte{0xff, 0xff, 0xff, 0x0f}, &out, grpc.ForceCodec(rawCodec{}))
	if err == nil {
		t.Fatal("garbage request accepted")
	}
	// A well-formed but invalid request is refused with a reason.
	_, err = rpcpb.NewNodeManagerClient(conn).RequestWorkerLease(ctx, &rpcpb.LeaseRequest{})
	if err == nil {
		t.Fatal("lease without job accepted")
	}
	if _, err := rpcpb.NewNodeManagerClient(conn).GetNodeStats(ctx, &rpcpb.Empty{}); err != nil {
		t.Fatalf("node stopped serving: %v", err)
	}
	if got, err := ray.Get(ctx, whereAmI.Remote(ctx, 0, ray.NodeAffinity(nodeIDs["127.0.0.2"], false))); err != nil || got != nodeIDs["127.0.0.2"] {
		t.Fatalf("task on the node after garbage: %q %v", got, err)
	}
}

// Release frees an object at once, with no garbage collection (which is
// switched off here): the store is back to its baseline and the released
// Ref can no longer be read.
func TestReleaseFreesWithoutGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ctx := context.Background()
	node2 := nodeClient(t, "127.0.0.2")
	// The test looks at its own object on node 2, not the store's totals,
	// which the other tests' objects (freed or spilled meanwhile) change too.
	held := func(id string) bool { return onNode(t, node2, id) }
	ref := blob.Remote(ctx, 1<<20, 7, ray.NodeAffinity(nodeIDs["127.0.0.2"], false))
	if b, err := ray.Get(ctx, ref); err != nil || len(b) != 1<<20 {
		t.Fatalf("get: len %d, %v", len(b), err)
	}
	id := ref.ID()
	if !held(id) {
		t.Fatal("object not stored on node 2")
	}
	ref.Release()
	ref.Release() // idempotent
	deadline := time.Now().Add(5 * time.Second)
	for held(id) {
		if time.Now().After(deadline) {
			t.Fatal("released object still on node 2 after 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := ray.Get(ctx, ref); err == nil || !strings.Contains(err.Error(), "released") {
		t.Fatalf("get after Release: %v, want an error saying it was released", err)
	}
}

// subDriver is a second, short-lived driver (this binary re-run with
// GORAY_IT_SUBDRIVER): many 1-CPU tasks, then shutdown and exit right away,
// as `goray-examples pi` does.
func subDriver(addr string) int {
	ctx := context.Background()
	if err := ray.Init(ctx, ray.WithAddress(addr)); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 1
	}
	refs := make([]ray.Ref[string], 24)
	for i := range refs {
		refs[i] = whereAmI.Remote(ctx, 30)
	}
	for _, r := range refs {
		if _, err := ray.Get(ctx, r); err != nil {
			fmt.Fprintln(os.Stderr, "get:", err)
			ray.Shutdown()
			return 1
		}
	}
	ray.Shutdown()
	return 0
}

// A driver that exits must leave no lease behind: every alive node's CPUs
// are all available again right after it is gone (not after minutes; a
// leaked lease holds its CPU forever and blocks later jobs and scale-down).
func TestExitedDriverLeavesNoLeases(t *testing.T) {
	ctx := context.Background()
	for run := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GORAY_IT_SUBDRIVER="+gcsAddress)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("driver %d: %v\n%s", run, err, out)
		}
		// Wait for the cluster (this driver's own leases time out in 20ms).
		deadline := time.Now().Add(3 * time.Second)
		for {
			var held []string
			for ip := range addrs {
				if procs[ip] == nil {
					continue
				}
				st, err := nodeClient(t, ip).GetNodeStats(ctx, &rpcpb.Empty{})
				if err != nil {
					continue
				}
				if st.Available["CPU"] != st.Total["CPU"] {
					held = append(held, fmt.Sprintf("%s: %g/%g CPU available", ip, st.Available["CPU"], st.Total["CPU"]))
				}
			}
			if len(held) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after driver %d exited, leases are still held: %v", run, held)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
