package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/cluster"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/gcs/storage/storagetest"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// The test binary is also the driver (GORAY_RT_DRIVER) and the worker
// processes the node managers exec for it.

type counter struct{ n int }

var counterClass = ray.Actor("rt.Counter", func(ctx context.Context) (*counter, error) { return &counter{}, nil })

var incr = ray.Method0(counterClass, "incr", func(c *counter, ctx context.Context) (int, error) {
	c.n++
	return c.n, nil
})

var gorayBin string

func TestMain(m *testing.M) {
	if ray.IsWorker() {
		_ = ray.Init(context.Background())
	}
	if mode := os.Getenv("GORAY_RT_DRIVER"); mode != "" {
		os.Exit(driver(mode))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "goray-cluster-test-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	gorayBin = filepath.Join(tmp, "goray")
	if out, err := testproc.GoBuild(gorayBin, "../../cmd/goray").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build goray: %v\n%s", err, out)
		return 1
	}
	testproc.CollectRaces(tmp)
	return testproc.RunCheckingRaces(m, tmp)
}

// driver creates ("create") the detached named counter on the node with
// the "survivor" resource and counts to 3, or ("use") finds it by name and
// counts once more; it prints the last count.
func driver(mode string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := ray.Init(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 1
	}
	defer ray.Shutdown()
	var h ray.ActorHandle[counter]
	var err error
	n := 1
	if mode == "create" {
		h, err = counterClass.Remote(ctx, ray.Name("counter"), ray.Namespace("ft"), ray.Detached(),
			ray.Resources(map[string]float64{"survivor": 1}))
		n = 3
	} else {
		h, err = ray.GetActor(ctx, counterClass, "counter", "ft")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "actor:", err)
		return 1
	}
	var got int
	for i := 0; i < n; i++ {
		if got, err = ray.Get(ctx, incr.Remote(ctx, h)); err != nil {
			fmt.Fprintln(os.Stderr, "incr:", err)
			return 1
		}
	}
	fmt.Printf("count=%d\n", got)
	return 0
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

func startProc(t *testing.T, logPath string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(gorayBin, args...)
	cmd.Env = append(os.Environ(), env...)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	testproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill is SIGKILL, by pid: no cleanup of any kind.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitUp is eventually for a process coming up: a process that ended
// fails the test at once with its log (a port taken between freePort and
// its bind, say, rather than a minute of "connection refused"), and a
// deadline passed shows the end of the log too.
func (p *proc) waitUp(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	err := poll(timeout, func() error {
		err := f()
		if err != nil {
			select {
			case <-p.done:
				t.Fatalf("%s: the process ended (%v): %v\n%s", what, p.cmd.ProcessState, err, p.logTail(60))
			default:
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", what, err, p.logTail(60))
	}
}

// logTail is the last n lines of the log.
func (p *proc) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(p.logText(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return p.log + " (end):\n" + strings.Join(lines, "\n")
}

func (p *proc) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func gcsClient(t *testing.T, addr string) rpcpb.GcsClient {
	conn, err := cluster.Dial(addr, auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return rpcpb.NewGcsClient(conn)
}

func eventually(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	if err := poll(timeout, f); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// poll calls f every 100 ms until it returns nil (nil) or timeout has
// passed (its last error).
func poll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type jobView struct {
	SubmissionID string `json:"submission_id"`
	Status       string `json:"status"`
	Entrypoint   string `json:"entrypoint"`
}

func httpJSON(method, url string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// TestHeadRestart: a head on Redis or the embedded file store is SIGKILLed
// and started again with the same flags. It lists the same driver jobs,
// job submissions (a finished one as it was; one that was running, whose
// supervisor died with the head, as FAILED), KV and actors; the worker
// node registers again under its id; the detached named actor on the
// worker node answers by name with its state; the next driver's job id is
// new; the Redis password is in no process's arguments and no job's
// environment.
func TestHeadRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts goray processes")
	}
	for _, backend := range []string{"file", "redis"} {
		t.Run(backend, func(t *testing.T) { headRestart(t, backend) })
	}
}

func headRestart(t *testing.T, backend string) {
	ctx := context.Background()
	tmp := t.TempDir()
	const password = "restart-test-secret"
	gcsPort, dashPort := testproc.Port(t, "127.0.0.1"), testproc.Port(t, "127.0.0.1")
	gcsAddr := "127.0.0.1:" + strconv.Itoa(gcsPort)
	dash := "http://127.0.0.1:" + strconv.Itoa(dashPort)
	env := []string{"GORAY_TMPDIR=" + filepath.Join(tmp, "goray"), "GORAY_HEALTH_TIMEOUT=2s"}
	headArgs := []string{"start", "--head", "--block", "--node-ip-address=127.0.0.1", "--port=" + strconv.Itoa(gcsPort),
		"--num-cpus=1", "--dashboard-port=" + strconv.Itoa(dashPort), "--metrics-export-port=0", "--serve-port=0",
		"--dashboard-agent-listen-port=" + strconv.Itoa(testproc.Port(t, "127.0.0.1"))}
	headEnv := append([]string{}, env...)
	var redisCfg storage.Config
	switch backend {
	case "file":
		headArgs = append(headArgs, "--gcs-storage-path="+filepath.Join(tmp, "gcs"))
	case "redis":
		srv := storagetest.StartRedis(t, storagetest.Options{Password: password})
		redisCfg = storage.Config{RedisAddress: srv.Addr, RedisPassword: password, Namespace: "cluster-uid-1"}
		headEnv = append(headEnv, "RAY_REDIS_ADDRESS=redis://"+srv.Addr, "REDIS_PASSWORD="+password,
			"RAY_external_storage_namespace=cluster-uid-1")
	}
	headLog := filepath.Join(tmp, "head.log")
	head := startProc(t, headLog, headEnv, headArgs...)
	g := gcsClient(t, gcsAddr)
	head.waitUp(t, "head up", 60*time.Second, func() error {
		_, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		return err
	})
	startProc(t, filepath.Join(tmp, "worker.log"), env, "start", "--block", "--address="+gcsAddr, "--node-ip-address=127.0.0.2",
		"--num-cpus=1", `--resources={"survivor": 1}`, "--metrics-export-port=0", "--serve-port=0",
		"--dashboard-agent-listen-port="+strconv.Itoa(testproc.Port(t, "127.0.0.1")))
	var workerID string
	eventually(t, "worker node registered", 60*time.Second, func() error {
		v, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		if err != nil {
			return err
		}
		for _, n := range v.Nodes {
			if n.Ip == "127.0.0.2" && n.Alive {
				workerID = n.NodeId
				return nil
			}
		}
		return fmt.Errorf("nodes %v", v.Nodes)
	})

	runDriver := func(mode string) string {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GORAY_RT_DRIVER="+mode, "GORAY_ADDRESS="+gcsAddr)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("driver %s: %v\n%s\nhead log:\n%s", mode, err, out, head.logText())
		}
		return strings.TrimSpace(string(out))
	}
	t.Logf("%s: cluster up", time.Now().Format("15:04:05.000"))
	if out := runDriver("create"); !strings.HasSuffix(out, "count=3") {
		t.Fatalf("driver create: %q", out)
	}

	// Job submissions: one finished, one printing its environment, one running.
	submit := func(id, entrypoint string) {
		if err := httpJSON("POST", dash+"/api/jobs/", map[string]any{"entrypoint": entrypoint, "submission_id": id}, nil); err != nil {
			t.Fatal(err)
		}
	}
	submit("done", "echo hello")
	submit("env", "env")
	submit("running", "sleep 600")
	jobStatus := func(id string) string {
		var j jobView
		if err := httpJSON("GET", dash+"/api/jobs/"+id, nil, &j); err != nil {
			return err.Error()
		}
		return j.Status
	}
	eventually(t, "jobs done and running", 60*time.Second, func() error {
		if a, b, c := jobStatus("done"), jobStatus("env"), jobStatus("running"); a != "SUCCEEDED" || b != "SUCCEEDED" || c != "RUNNING" {
			return fmt.Errorf("done=%s env=%s running=%s", a, b, c)
		}
		return nil
	})
	var logs struct {
		Logs string `json:"logs"`
	}
	if err := httpJSON("GET", dash+"/api/jobs/env/logs", nil, &logs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.Logs, "PATH=") || strings.Contains(logs.Logs, password) || strings.Contains(logs.Logs, "REDIS_PASSWORD") {
		t.Fatalf("a job's environment shows the Redis password (or the job printed nothing):\n%s", logs.Logs)
	}
	if _, err := g.KvPut(ctx, &rpcpb.KvRequest{Namespace: "test", Key: "k", Value: []byte("v"), Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", head.cmd.Process.Pid)); bytes.Contains(b, []byte(password)) {
		t.Fatal("the Redis password is in the head's arguments")
	}

	type snap struct {
		DriverJobs []string
		Jobs       []string
		Actors     []string
		KV         string
	}
	take := func() (snap, []string) {
		var s snap
		var ids []string
		jobs, err := g.GetJobs(ctx, &rpcpb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs.Jobs {
			s.DriverJobs = append(s.DriverJobs, fmt.Sprintf("%s %s %s start=%d", j.JobId, j.BinaryHash, j.DriverAddress, j.StartTimeMs))
			ids = append(ids, j.JobId)
		}
		var list []jobView
		if err := httpJSON("GET", dash+"/api/jobs/", nil, &list); err != nil {
			t.Fatal(err)
		}
		for _, j := range list {
			s.Jobs = append(s.Jobs, j.SubmissionID+" "+j.Entrypoint)
		}
		sort.Strings(s.Jobs)
		as, err := g.ListActors(ctx, &rpcpb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as.Actors {
			s.Actors = append(s.Actors, fmt.Sprintf("%s %s/%s %s %s", a.ActorId, a.Namespace, a.Name, a.ClassName, a.JobId))
		}
		kv, err := g.KvGet(ctx, &rpcpb.KvRequest{Namespace: "test", Key: "k"})
		if err != nil {
			t.Fatal(err)
		}
		s.KV = string(kv.Value)
		return s, ids
	}
	before, oldIDs := take()
	t.Logf("%s: killing the head", time.Now().Format("15:04:05.000"))

	head.kill()
	head = startProc(t, headLog, headEnv, headArgs...)
	head.waitUp(t, "head up again", 60*time.Second, func() error {
		_, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		return err
	})
	eventually(t, "the worker node registered again under its id", 30*time.Second, func() error {
		v, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		if err != nil {
			return err
		}
		for _, n := range v.Nodes {
			if n.NodeId == workerID && n.Alive {
				return nil
			}
		}
		return fmt.Errorf("nodes %v", v.Nodes)
	})
	eventually(t, "dashboard up again", 30*time.Second, func() error {
		var list []jobView
		return httpJSON("GET", dash+"/api/jobs/", nil, &list)
	})
	after, _ := take()
	t.Logf("%s: head back, worker registered again", time.Now().Format("15:04:05.000"))
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("after the restart:\n%+v\nbefore:\n%+v\nhead log:\n%s", after, before, head.logText())
	}
	if len(after.DriverJobs) < 1 || len(after.Jobs) != 3 || len(after.Actors) != 1 || after.KV != "v" {
		t.Fatalf("incomplete: %+v", after)
	}
	if s := jobStatus("done"); s != "SUCCEEDED" {
		t.Fatalf("the finished job is %s after the restart", s)
	}
	if s := jobStatus("running"); s != "FAILED" {
		t.Fatalf("the job whose supervisor died with the head is %s, want FAILED", s)
	}
	// The actor kept its state on the surviving node, reachable by name.
	if out := runDriver("use"); !strings.HasSuffix(out, "count=4") {
		t.Fatalf("the restored actor answered %q, want count=4 (its state)", out)
	}
	t.Logf("%s: the actor answered", time.Now().Format("15:04:05.000"))
	jobs, err := g.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Jobs {
		if !containsStr(oldIDs, j.JobId) && j.JobId <= oldIDs[len(oldIDs)-1] {
			t.Fatalf("a driver after the restart got job id %s; the last before it was %s", j.JobId, oldIDs[len(oldIDs)-1])
		}
	}
	if len(jobs.Jobs) != len(oldIDs)+1 {
		t.Fatalf("%d driver jobs after one more driver, want %d", len(jobs.Jobs), len(oldIDs)+1)
	}
	if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", head.cmd.Process.Pid)); bytes.Contains(b, []byte(password)) {
		t.Fatal("the Redis password is in the head's arguments")
	}
	if strings.Contains(head.logText(), password) {
		t.Fatal("the head's log shows the Redis password")
	}

	if backend == "redis" {
		// What the operator's cleanup Job runs, as it runs it.
		cmd := exec.Command(gorayBin, "gcs-cleanup", "--redis-address=$(RAY_REDIS_ADDRESS)", "--namespace=$(RAY_external_storage_namespace)")
		cmd.Env = append(os.Environ(), "RAY_REDIS_ADDRESS="+redisCfg.RedisAddress, "REDIS_PASSWORD=wrong",
			"RAY_external_storage_namespace=cluster-uid-1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "REDIS_PASSWORD") || strings.Contains(string(out), "wrong") {
			t.Fatalf("gcs-cleanup with a wrong password: %v\n%s", err, out)
		}
		cmd = exec.Command(gorayBin, "gcs-cleanup", "--redis-address=$(RAY_REDIS_ADDRESS)", "--namespace=$(RAY_external_storage_namespace)")
		cmd.Env = append(os.Environ(), "RAY_REDIS_ADDRESS="+redisCfg.RedisAddress, "REDIS_PASSWORD="+password,
			"RAY_external_storage_namespace=cluster-uid-1")
		out, err = cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "deleted") || strings.Contains(string(out), password) {
			t.Fatalf("gcs-cleanup: %v\n%s", err, out)
		}
		head.kill()
		st, err := storage.OpenRedis(ctx, redisCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		for _, table := range storage.Tables {
			n := 0
			_ = st.Scan(ctx, table, func(string, []byte) error { n++; return nil })
			if n != 0 {
				t.Fatalf("table %s has %d records after gcs-cleanup", table, n)
			}
		}
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
