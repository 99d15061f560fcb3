package gcs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/gcs/storage/storagetest"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Sizes of the stored cluster a restarted head reloads (issue 16: 10,000
// job records and 1,000 actors).
const (
	benchJobs        = 10000
	benchActors      = 1000
	benchWorkerNodes = 3
)

// BenchmarkHeadRestart is the cost of a head crash with durable storage, as
// a user sees it: a `goray start --head` process on the embedded file store
// or on a real redis-server, with three worker node processes and
// 10,000 job records and 1,000 actor records stored, gets SIGKILL and is
// started again with the same flags. Each iteration times, from the exec of
// the new head, the GCS answering (gcs-ms, mean) and every worker node being
// registered again and alive with a live head node (nodes-ms, mean;
// max-nodes-ms and its ratio to the 5 s bound). The kill and
// the checks after each restart (every job and actor reloaded) are not timed.
//
//	go test -run '^$' -bench BenchmarkHeadRestart -benchtime 5x ./runtime/gcs/
func BenchmarkHeadRestart(b *testing.B) {
	if testing.Short() {
		b.Skip("-short: starts goray processes")
	}
	bin := buildGoray(b)
	for _, backend := range []string{"file", "redis"} {
		b.Run(backend, func(b *testing.B) { benchHeadRestart(b, bin, backend) })
	}
}

var goray struct {
	once sync.Once
	path string
	err  error
}

func buildGoray(b *testing.B) string {
	goray.once.Do(func() {
		dir, err := os.MkdirTemp("", "goray-gcs-bench-")
		if err != nil {
			goray.err = err
			return
		}
		goray.path = filepath.Join(dir, "goray")
		if out, err := testproc.GoBuild(goray.path, "../../cmd/goray").CombinedOutput(); err != nil {
			goray.err = fmt.Errorf("build goray: %w\n%s", err, out)
		}
	})
	if goray.err != nil {
		b.Fatal(goray.err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(filepath.Dir(goray.path)) })
	return goray.path
}

type benchProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startBenchProc(b *testing.B, bin, logPath string, env []string, args ...string) *benchProc {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	testproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &benchProc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	b.Cleanup(p.kill)
	return p
}

// kill is SIGKILL by pid, then the wait for the process to be gone.
func (p *benchProc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func benchHeadRestart(b *testing.B, bin, backend string) {
	ctx := context.Background()
	tmp := b.TempDir()
	gcsPort := testproc.Port(b, "127.0.0.1")
	gcsAddr := "127.0.0.1:" + strconv.Itoa(gcsPort)
	env := []string{"GORAY_TMPDIR=" + filepath.Join(tmp, "goray")}
	headArgs := []string{"start", "--head", "--block", "--node-ip-address=127.0.0.1", "--port=" + strconv.Itoa(gcsPort),
		"--num-cpus=1", "--dashboard-port=" + strconv.Itoa(testproc.Port(b, "127.0.0.1")), "--metrics-export-port=0", "--serve-port=0",
		"--dashboard-agent-listen-port=" + strconv.Itoa(testproc.Port(b, "127.0.0.1"))}
	headEnv := append([]string{}, env...)
	var cfg storage.Config
	switch backend {
	case "file":
		cfg = storage.Config{Path: filepath.Join(tmp, "gcs")}
		headArgs = append(headArgs, "--gcs-storage-path="+cfg.Path)
	case "redis":
		srv := storagetest.StartRedis(b, storagetest.Options{Password: "bench"})
		cfg = storage.Config{RedisAddress: srv.Addr, RedisPassword: "bench", Namespace: "bench"}
		headEnv = append(headEnv, "RAY_REDIS_ADDRESS="+srv.Addr, "REDIS_PASSWORD=bench", "RAY_external_storage_namespace=bench")
	}
	headLog := filepath.Join(tmp, "head.log")
	head := startBenchProc(b, bin, headLog, headEnv, headArgs...)

	conn, err := rpcutil.Dial(gcsAddr, auth.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	g := rpcpb.NewGcsClient(conn)
	waitFor(b, "the head", 60*time.Second, func() error { _, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{}); return err })
	for i := 0; i < benchWorkerNodes; i++ {
		startBenchProc(b, bin, filepath.Join(tmp, fmt.Sprintf("worker%d.log", i)), env, "start", "--block", "--address="+gcsAddr,
			fmt.Sprintf("--node-ip-address=127.0.0.%d", i+2), "--num-cpus=1", "--metrics-export-port=0", "--serve-port=0",
			"--dashboard-agent-listen-port="+strconv.Itoa(testproc.Port(b, "127.0.0.1")))
	}
	var workerIDs []string
	waitFor(b, "the worker nodes", 60*time.Second, func() error {
		ids, err := aliveWorkers(ctx, g)
		workerIDs = ids
		if err == nil && len(ids) < benchWorkerNodes {
			err = fmt.Errorf("%d of %d worker nodes alive", len(ids), benchWorkerNodes)
		}
		return err
	})
	addBenchJobs(b, g)

	var sumGCS, sumNodes, maxNodes time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		head.kill()
		if i == 0 {
			// Actors need worker processes to be created through the API;
			// their records are what a restart reloads, so they are written
			// as the GCS writes them, placed on the worker nodes.
			putBenchActors(b, cfg, workerIDs)
		}
		b.StartTimer()
		start := time.Now()
		head = startBenchProc(b, bin, headLog, headEnv, headArgs...)
		waitFor(b, "the restarted GCS", 60*time.Second, func() error { _, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{}); return err })
		answering := time.Since(start)
		waitFor(b, "every node registered again", 60*time.Second, func() error {
			v, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
			if err != nil {
				return err
			}
			alive, headAlive := map[string]bool{}, false
			for _, n := range v.Nodes {
				if n.Alive {
					alive[n.NodeId] = true
					headAlive = headAlive || n.IsHead
				}
			}
			for _, id := range workerIDs {
				if !alive[id] {
					return fmt.Errorf("worker node %s not registered again", id)
				}
			}
			if !headAlive {
				return fmt.Errorf("no live head node")
			}
			return nil
		})
		registered := time.Since(start)
		b.StopTimer()
		sumGCS += answering
		sumNodes += registered
		maxNodes = max(maxNodes, registered)
		checkReloaded(b, g)
		b.StartTimer()
	}
	b.ReportMetric(float64(sumGCS.Milliseconds())/float64(b.N), "gcs-ms")
	b.ReportMetric(float64(sumNodes.Milliseconds())/float64(b.N), "nodes-ms")
	b.ReportMetric(float64(maxNodes.Milliseconds()), "max-nodes-ms")
	// The floor is the bound: 5 s (Ray gives raylets 60 s).
	b.ReportMetric(float64(maxNodes)/float64(5*time.Second), "max/5s")
}

func waitFor(b *testing.B, what string, timeout time.Duration, f func() error) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %v", what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func aliveWorkers(ctx context.Context, g rpcpb.GcsClient) ([]string, error) {
	v, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range v.Nodes {
		if n.Alive && !n.IsHead {
			ids = append(ids, n.NodeId)
		}
	}
	return ids, nil
}

// addBenchJobs registers benchJobs driver jobs through the GCS's API, 16 at a time.
func addBenchJobs(b *testing.B, g rpcpb.GcsClient) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := &rpcpb.JobInfo{BinaryHash: fmt.Sprintf("%064x", i), BinaryPath: "/bench/driver", DriverAddress: "127.0.0.1:1", Namespace: "bench"}
				if _, err := g.AddJob(ctx, j); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		}()
	}
	for i := 0; i < benchJobs; i++ {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			b.Fatalf("add job %d: %v", i, err)
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatalf("add jobs: %v", err)
	default:
	}
}

// putBenchActors writes benchActors ALIVE detached actor records, spread
// over the worker nodes, into the stopped head's storage.
func putBenchActors(b *testing.B, cfg storage.Config, nodeIDs []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := storage.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var ops []storage.Op
	for i := 0; i < benchActors; i++ {
		a := &actors.Actor{ID: fmt.Sprintf("bench%027d", i), Class: "bench.Actor", Name: fmt.Sprintf("a%d", i), Namespace: "bench",
			JobID: "00000001", Detached: true, State: actors.Alive, NodeID: nodeIDs[i%len(nodeIDs)],
			WorkerID: fmt.Sprintf("w%d", i), Address: "127.0.0.1:1",
			Spec: &rpcpb.ActorSpec{ClassName: "bench.Actor", Name: fmt.Sprintf("a%d", i), Namespace: "bench", Detached: true}}
		ops = append(ops, actorOp(a))
		if len(ops) == 100 || i == benchActors-1 {
			if err := st.Apply(ctx, ops...); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
}

// checkReloaded fails unless the restarted GCS lists every stored job and actor.
func checkReloaded(b *testing.B, g rpcpb.GcsClient) {
	ctx := context.Background()
	jobs, err := g.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		b.Fatal(err)
	}
	as, err := g.ListActors(ctx, &rpcpb.Empty{})
	if err != nil {
		b.Fatal(err)
	}
	if len(jobs.Jobs) < benchJobs || len(as.Actors) < benchActors {
		b.Fatalf("after the restart: %d jobs and %d actors, want at least %d and %d", len(jobs.Jobs), len(as.Actors), benchJobs, benchActors)
	}
}
