package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/internal/exehash"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/gcs"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// Drivers of the incarnation tests (GORAY_INC_DRIVER). They run from
// init, before TestMain, in the test binary or in a copy of it.

// onSide is where these tests put their work: the worker node (127.0.0.2)
// is the only node with the "side" resource, and it survives the head.
var onSide = ray.Resources(map[string]float64{"CPU": 1, "side": 1})

type holder struct{}

var holderClass = ray.Actor("inc.Holder", func(ctx context.Context) (*holder, error) { return &holder{}, nil })

var holderPing = ray.Method0(holderClass, "ping", func(h *holder, ctx context.Context) (int, error) { return os.Getpid(), nil })

// exeHash answers with the hash of the executable the worker runs.
var exeHash = ray.Task0("inc.exe", func(ctx context.Context) (string, error) {
	selfHashOnce.Do(func() {
		p, err := os.Executable()
		if err == nil {
			selfHash, selfErr = exehash.File(p)
		} else {
			selfErr = err
		}
	})
	return selfHash, selfErr
})

var (
	selfHashOnce sync.Once
	selfHash     string
	selfErr      error
)

// block runs until it is cancelled or its worker dies.
var block = ray.Task0("inc.block", func(ctx context.Context) (int, error) {
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Minute):
	}
	return 0, nil
})

func init() {
	mode := os.Getenv("GORAY_INC_DRIVER")
	if mode == "" || ray.IsWorker() {
		return
	}
	os.Exit(incDriver(mode))
}

// incDriver: "hold" leaves idle workers and an actor on the worker node,
// says "ready" and then waits on a task that never ends (until its cluster
// is gone); "exe" runs inc.exe on the worker node and checks that every
// worker ran this very executable.
func incDriver(mode string) int {
	ctx := context.Background()
	ictx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := ray.Init(ictx); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 1
	}
	defer ray.Shutdown()
	p, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mine, err := exehash.File(p)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var refs []ray.Ref[string]
	for range 6 {
		refs = append(refs, exeHash.Remote(ictx, onSide))
	}
	got, err := ray.GetAll(ictx, refs...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tasks:", err)
		return 1
	}
	for _, h := range got {
		if h != mine {
			fmt.Fprintf(os.Stderr, "a task ran in executable %.12s, this driver is %.12s\n", h, mine)
			return 1
		}
	}
	if mode == "exe" {
		fmt.Println("ok")
		return 0
	}
	a, err := holderClass.Remote(ictx, onSide)
	if err != nil {
		fmt.Fprintln(os.Stderr, "actor:", err)
		return 1
	}
	if _, err := ray.Get(ictx, holderPing.Remote(ictx, a)); err != nil {
		fmt.Fprintln(os.Stderr, "actor:", err)
		return 1
	}
	r := block.Remote(ctx, onSide)
	fmt.Println("ready")
	_, err = ray.Get(ctx, r)
	fmt.Fprintln(os.Stderr, "blocked get returned:", err)
	return 1
}

// descendants are the live processes below pid.
func descendants(pid int) map[int]bool {
	out := map[int]bool{}
	for _, p := range testproc.Descendants(pid) {
		out[p] = true
	}
	return out
}

// incCluster is a head (memory or file backend) and a worker node on
// 127.0.0.2 with three CPUs and the "side" resource.
type incCluster struct {
	t        *testing.T
	tmp      string
	gcsAddr  string
	headArgs []string
	env      []string
	head     *proc
	worker   *proc
	g        rpcpb.GcsClient
}

func startIncCluster(t *testing.T, storagePath string, headEnv ...string) *incCluster {
	tmp := t.TempDir()
	gcsPort := testproc.Port(t, "127.0.0.1")
	c := &incCluster{t: t, tmp: tmp, gcsAddr: "127.0.0.1:" + strconv.Itoa(gcsPort),
		env: []string{"GORAY_TMPDIR=" + filepath.Join(tmp, "goray"), "GORAY_HEALTH_TIMEOUT=2s"}}
	c.headArgs = []string{"start", "--head", "--block", "--node-ip-address=127.0.0.1", "--port=" + strconv.Itoa(gcsPort),
		"--num-cpus=1", "--dashboard-port=" + strconv.Itoa(testproc.Port(t, "127.0.0.1")), "--metrics-export-port=0", "--serve-port=0",
		"--dashboard-agent-listen-port=" + strconv.Itoa(testproc.Port(t, "127.0.0.1"))}
	if storagePath != "" {
		c.headArgs = append(c.headArgs, "--gcs-storage-path="+storagePath)
	}
	c.startHead(headEnv...)
	c.worker = startProc(t, filepath.Join(tmp, "worker.log"), c.env, "start", "--block", "--address="+c.gcsAddr,
		"--node-ip-address=127.0.0.2", "--num-cpus=3", `--resources={"side": 3}`, "--metrics-export-port=0", "--serve-port=0",
		"--dashboard-agent-listen-port="+strconv.Itoa(testproc.Port(t, "127.0.0.1")))
	c.waitWorkerNode()
	return c
}

func (c *incCluster) startHead(extraEnv ...string) {
	c.head = startProc(c.t, filepath.Join(c.tmp, "head.log"), append(append([]string{}, c.env...), extraEnv...), c.headArgs...)
	if c.g == nil {
		c.g = gcsClient(c.t, c.gcsAddr)
	}
	c.head.waitUp(c.t, "head up", 60*time.Second, func() error {
		_, err := c.g.GetNodes(context.Background(), &rpcpb.GetNodesRequest{})
		return err
	})
}

func (c *incCluster) waitWorkerNode() {
	c.worker.waitUp(c.t, "worker node registered", 60*time.Second, func() error {
		v, err := c.g.GetNodes(context.Background(), &rpcpb.GetNodesRequest{})
		if err != nil {
			return err
		}
		for _, n := range v.Nodes {
			if n.Ip == "127.0.0.2" && n.Alive {
				return nil
			}
		}
		return fmt.Errorf("nodes %v", v.Nodes)
	})
}

// jobOf is the id of the job whose executable has hash.
func (c *incCluster) jobOf(hash string) string {
	c.t.Helper()
	jobs, err := c.g.GetJobs(context.Background(), &rpcpb.Empty{})
	if err != nil {
		c.t.Fatal(err)
	}
	id := ""
	for _, j := range jobs.Jobs {
		if j.BinaryHash == hash {
			id = j.JobId
		}
	}
	if id == "" {
		c.t.Fatalf("no job runs executable %.12s: %v", hash, jobs.Jobs)
	}
	return id
}

func (c *incCluster) logs() string {
	return "head log:\n" + c.head.logText() + "\nworker node log:\n" + c.worker.logText()
}

// otherBinary writes a copy of the test binary with bytes appended: the
// same program under another content hash, as a rebuilt driver would be.
func otherBinary(t *testing.T) (string, string) {
	t.Helper()
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(t.TempDir(), "driver-b")
	dst, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(dst, "\ngoray incarnation test trailer %d\n", time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	h, err := exehash.File(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, h
}

// runIncDriver runs a driver to its end and returns its output.
func runIncDriver(t *testing.T, bin, mode, gcsAddr string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORAY_INC_DRIVER="+mode, "GORAY_ADDRESS="+gcsAddr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		err := <-done
		return out.String(), fmt.Errorf("driver did not end within 3 minutes (killed: %w)", err)
	}
}

// TestNewClusterDropsOldIncarnation (memory backend, issue 16 acceptance
// 3): a driver holds an actor, a running task and idle workers on the
// worker node; the head is SIGKILLed and started again without storage (a
// new cluster id). Within 30 s no process of the old cluster runs: the
// worker node killed every worker it had for it, and the driver exited with
// status 1 saying the head restarted without fault tolerance. A driver
// built from another executable, given the old driver's job id by the new
// head, then runs its tasks on that node in its own executable.
func TestNewClusterDropsOldIncarnation(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts goray processes")
	}
	c := startIncCluster(t, "")
	oldHash, err := exehash.File(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}

	// The old cluster's driver, left running.
	drv := exec.Command(os.Args[0], "-test.run=^$")
	drv.Env = append(os.Environ(), "GORAY_INC_DRIVER=hold", "GORAY_ADDRESS="+c.gcsAddr)
	var drvOut lockedBuffer
	drv.Stdout, drv.Stderr = &drvOut, &drvOut
	if err := drv.Start(); err != nil {
		t.Fatal(err)
	}
	drvDone := make(chan struct{}) // closed when it exited, with drvErr
	var drvErr error
	go func() { drvErr = drv.Wait(); close(drvDone) }()
	t.Cleanup(func() {
		_ = drv.Process.Kill()
		<-drvDone
	})
	eventually(t, "driver ready", 2*time.Minute, func() error {
		select {
		case <-drvDone:
			return fmt.Errorf("driver ended: %w\n%s", drvErr, drvOut.String())
		default:
		}
		if !strings.Contains(drvOut.String(), "ready") {
			return errors.New("not yet")
		}
		return nil
	})
	oldJob := c.jobOf(oldHash)
	// Its workers on the worker node: the actor, the blocked task and
	// the idle ones (the first lease pre-starts a worker per CPU).
	var old map[int]bool
	eventually(t, "the driver's workers on the worker node", 30*time.Second, func() error {
		old = descendants(c.worker.cmd.Process.Pid)
		if len(old) < 3 {
			return fmt.Errorf("%d worker process(es)", len(old))
		}
		return nil
	})
	t.Logf("%s: driver job %s, %d worker process(es) on the worker node; killing the head", time.Now().Format("15:04:05.000"), oldJob, len(old))

	c.head.kill()
	killed := time.Now()
	c.startHead(gcs.EnvTestFirstJobID + "=" + oldJob)

	eventually(t, "no process of the old cluster", 30*time.Second-time.Since(killed), func() error {
		var left []int
		for p := range old {
			if testproc.Alive(p) {
				left = append(left, p)
			}
		}
		select {
		case <-drvDone:
		default:
			left = append(left, drv.Process.Pid)
		}
		if len(left) > 0 {
			return fmt.Errorf("still running: %v", left)
		}
		return nil
	})
	t.Logf("%s: the old cluster's processes are gone, %s after the kill", time.Now().Format("15:04:05.000"), time.Since(killed).Round(time.Millisecond))
	var ee *exec.ExitError
	if !errors.As(drvErr, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("the orphaned driver ended with %v, want exit status 1\n%s", drvErr, drvOut.String())
	}
	if !strings.Contains(drvOut.String(), "restarted without GCS fault tolerance") {
		t.Fatalf("the orphaned driver did not say why it exited:\n%s", drvOut.String())
	}
	t.Logf("the orphaned driver's last words:\n%s", lastLines(drvOut.String(), 3))
	if !strings.Contains(c.worker.logText(), "is a new cluster") {
		t.Fatalf("the worker node did not log that it dropped the old cluster:\n%s", c.logs())
	}
	if n := len(descendants(c.worker.cmd.Process.Pid)); n != 0 {
		t.Fatalf("%d process(es) under the worker node with no driver in the new cluster", n)
	}

	// A driver of another executable gets the old driver's job id.
	c.waitWorkerNode()
	bin, newHash := otherBinary(t)
	out, err := runIncDriver(t, bin, "exe", c.gcsAddr)
	if err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("the new cluster's driver: %v\n%s\n%s", err, out, c.logs())
	}
	if id := c.jobOf(newHash); id != oldJob {
		t.Fatalf("the new driver got job id %s, not the old driver's %s: the collision was not forced", id, oldJob)
	}
}

// TestJobIDCollisionRunsTheRightBinary (file backend: the cluster id
// survives, so the worker node keeps the old job's idle workers): a driver
// leaves idle workers on the worker node and ends; the head restarts with
// its storage but is made to hand the same job id to a driver of another
// executable (GORAY_TEST_FIRST_JOB_ID). Its tasks on that node must run in
// its own executable, not in the idle workers of the first program. Pools
// and executables keyed by job id alone fail this.
func TestJobIDCollisionRunsTheRightBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts goray processes")
	}
	storagePath := filepath.Join(t.TempDir(), "gcs")
	c := startIncCluster(t, storagePath)
	oldHash, err := exehash.File(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runIncDriver(t, os.Args[0], "exe", c.gcsAddr); err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("first driver: %v\n%s\n%s", err, out, c.logs())
	}
	oldJob := c.jobOf(oldHash)
	idle := descendants(c.worker.cmd.Process.Pid)
	if len(idle) == 0 {
		t.Fatal("the first driver left no idle worker on the worker node")
	}

	c.head.kill()
	c.startHead(gcs.EnvTestFirstJobID + "=" + oldJob)
	c.waitWorkerNode()
	// Same cluster: the node kept the first program's idle workers.
	for p := range idle {
		if !testproc.Alive(p) {
			t.Fatalf("idle worker %d died across a restart on durable storage\n%s", p, c.logs())
		}
	}
	bin, newHash := otherBinary(t)
	out, err := runIncDriver(t, bin, "exe", c.gcsAddr)
	if id := c.jobOf(newHash); id != oldJob {
		t.Fatalf("the second driver got job id %s, not the first one's %s: the collision was not forced", id, oldJob)
	}
	if err != nil || !strings.Contains(out, "ok") {
		t.Fatalf("the second driver (same job id, another executable): %v\n%s\n%s", err, out, c.logs())
	}
	if strings.Contains(c.worker.logText(), "is a new cluster") {
		t.Fatalf("the worker node dropped its workers on a restart that kept the cluster id:\n%s", c.logs())
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// lockedBuffer is a bytes.Buffer safe to read while a process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
