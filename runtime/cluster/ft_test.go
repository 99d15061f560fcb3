package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/cluster"
	"github.com/goray-dev/goray/runtime/gcs/storage/storagetest"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// The driver of TestHeadRestartUnderLoad is this test binary run
// with GORAY_FT_DRIVER set (see ftDriver).

const (
	ftFirst  = 6000 // tasks submitted before the head is killed
	ftSecond = 4000 // tasks submitted while it is down
	ftTasks  = ftFirst + ftSecond
)

// ftSquare sleeps a little (so the job spans the outage) and says where it ran.
var ftSquare = ray.Task("ft.square", func(ctx context.Context, x int) (string, error) {
	time.Sleep(3 * time.Millisecond)
	return fmt.Sprintf("%d@%s", x*x, ray.NodeID()), nil
})

// ftWhere runs in the placement group's bundle and says on which node.
var ftWhere = ray.Task("ft.where", func(ctx context.Context, _ int) (string, error) { return ray.NodeID(), nil })

func init() {
	// Before TestMain: the driver process runs this and nothing else.
	if os.Getenv("GORAY_FT_DRIVER") != "" && !ray.IsWorker() {
		os.Exit(ftDriver(os.Getenv("GORAY_FT_GO")))
	}
}

// ftDriver: a placement group with a bundle on the node with "pgres", a
// detached named counter at 3 on the node with "survivor" (handle held), then
// ftFirst tasks spread over the nodes; once the file goFile exists (the
// test killed the head) ftSecond more. It checks every result, calls the
// held actor handle and runs a task in the group's bundle again, printing
// what it saw; exit status 0 only if all is as expected.
func ftDriver(goFile string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	fail := func(f string, a ...any) int {
		fmt.Printf("FAIL "+f+"\n", a...)
		return 1
	}
	if err := ray.Init(ctx); err != nil {
		return fail("init: %v", err)
	}
	defer ray.Shutdown()
	pg, err := ray.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1, "pgres": 1}}, "STRICT_PACK")
	if err != nil {
		return fail("placement group: %v", err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	err = pg.Ready(rctx)
	rcancel()
	if err != nil {
		return fail("placement group ready: %v", err)
	}
	inPG := []any{0, ray.InPlacementGroup(pg, 0), ray.Resources(map[string]float64{"CPU": 1, "pgres": 1})}
	pgNode, err := ray.Get(ctx, ftWhere.Remote(ctx, inPG...))
	if err != nil {
		return fail("task in the placement group: %v", err)
	}
	h, err := counterClass.Remote(ctx, ray.Name("counter"), ray.Namespace("ft"), ray.Detached(),
		ray.Resources(map[string]float64{"survivor": 1}))
	if err != nil {
		return fail("actor: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := ray.Get(ctx, incr.Remote(ctx, h)); err != nil {
			return fail("incr: %v", err)
		}
	}
	fmt.Printf("ready pg=%s pgnode=%s actor=%s driver-node=%s\n", pg.ID, pgNode, h.ID, ray.NodeID())

	refs := make([]ray.Ref[string], 0, ftTasks)
	for i := 0; i < ftFirst; i++ {
		refs = append(refs, ftSquare.Remote(ctx, i, ray.SchedulingSpread()))
	}
	// The second part is submitted once the head is down: tasks queued
	// during the outage.
	submitted := make(chan struct{})
	var second []ray.Ref[string]
	go func() {
		defer close(submitted)
		for i := 0; i < 6000 && ctx.Err() == nil; i++ { // 10 min at most
			if _, err := os.Stat(goFile); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Printf("submitting the rest at %d\n", time.Now().UnixMilli())
		for i := ftFirst; i < ftTasks; i++ {
			second = append(second, ftSquare.Remote(ctx, i, ray.SchedulingSpread()))
		}
	}()
	perNode := map[string]int{}
	get := func(i int, r ray.Ref[string]) error {
		v, err := ray.Get(ctx, r)
		if err != nil {
			return fmt.Errorf("task %d: %w", i, err)
		}
		sq, node, ok := strings.Cut(v, "@")
		if !ok || sq != strconv.Itoa(i*i) {
			return fmt.Errorf("task %d returned %q", i, v)
		}
		if perNode[node] == 0 {
			fmt.Printf("first-on %s %d\n", node, time.Now().UnixMilli())
		}
		perNode[node]++
		if (i+1)%100 == 0 {
			fmt.Printf("done %d %d\n", i+1, time.Now().UnixMilli())
		}
		return nil
	}
	for i, r := range refs {
		if err := get(i, r); err != nil {
			return fail("%v", err)
		}
	}
	<-submitted
	for j, r := range second {
		if err := get(ftFirst+j, r); err != nil {
			return fail("%v", err)
		}
	}
	var nodes []string
	for n, c := range perNode {
		nodes = append(nodes, fmt.Sprintf("%s=%d", n, c))
	}
	sort.Strings(nodes)
	fmt.Printf("nodes %s\n", strings.Join(nodes, " "))
	fmt.Printf("all %d ok\n", ftTasks)
	// The handle held across the outage reaches the actor, with its state.
	n, err := ray.Get(ctx, incr.Remote(ctx, h))
	if err != nil {
		return fail("incr after the restart: %v", err)
	}
	fmt.Printf("actor=%d\n", n)
	after, err := ray.Get(ctx, ftWhere.Remote(ctx, inPG...))
	if err != nil {
		return fail("task in the placement group after the restart: %v", err)
	}
	fmt.Printf("pgtask %s\n", after)
	return 0
}

// driverProc is a running ftDriver whose stdout lines the test follows.
type driverProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
	err   error
	log   string
}

func startFTDriver(t *testing.T, gcsAddr, goFile, logPath string) *driverProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORAY_FT_DRIVER=1", "GORAY_FT_GO="+goFile, "GORAY_ADDRESS="+gcsAddr)
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = f
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &driverProc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			d.mu.Lock()
			d.lines = append(d.lines, sc.Text())
			d.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, out)
		d.err = cmd.Wait()
		_ = f.Close()
		close(d.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-d.done
	})
	return d
}

// find returns the last line starting with prefix.
func (d *driverProc) find(prefix string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(d.lines[i], prefix) {
			return d.lines[i], true
		}
	}
	return "", false
}

func (d *driverProc) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, _ := os.ReadFile(d.log)
	return strings.Join(d.lines, "\n") + "\n--- driver stderr ---\n" + string(b)
}

// field returns the value of key=value in line.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// progress is the count and time of the last "done N ms" line.
func (d *driverProc) progress() (int, int64) {
	l, ok := d.find("done ")
	if !ok {
		return 0, 0
	}
	f := strings.Fields(l)
	n, _ := strconv.Atoi(f[1])
	ms, _ := strconv.ParseInt(f[2], 10, 64)
	return n, ms
}

// TestHeadRestartUnderLoad (issue 16, acceptance 1): a head on Redis or
// the file store is SIGKILLed, in one outage, while
//   - a driver attached to the head's node manager runs a job of 10,000
//     tasks spread over the head and two worker nodes, holding a placement
//     group on one worker node;
//   - a detached named actor holds state on that worker node;
//   - a serve application with its replicas on that node takes closed-loop
//     load through the node's proxy.
//
// The head is started again with the same flags. The driver's job completes
// with every result right; its record is in the job list before, during and
// after (finished at the end); the actor answers through the driver's handle
// and by name with its state; the job list, the actor table and the
// placement group (id, state, bundles and their node) are the same before
// and after, and the worker node kept the group's reservation; at least
// 99.9% of the serve requests succeed, and the restarted serve controller
// resumes with the same status, replicas and job.
func TestHeadRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts goray processes")
	}
	for _, backend := range []string{"file", "redis"} {
		t.Run(backend, func(t *testing.T) { headRestartUnderLoad(t, backend) })
	}
}

func headRestartUnderLoad(t *testing.T, backend string) {
	ctx := context.Background()
	tmp := t.TempDir()
	gcsPort, dashPort, servePort := testproc.Port(t, "127.0.0.1"), testproc.Port(t, "127.0.0.1"), testproc.Port(t, "127.0.0.2")
	gcsAddr := "127.0.0.1:" + strconv.Itoa(gcsPort)
	env := []string{"GORAY_TMPDIR=" + filepath.Join(tmp, "goray"), "GORAY_HEALTH_TIMEOUT=2s"}
	headArgs := []string{"start", "--head", "--block", "--node-ip-address=127.0.0.1", "--port=" + strconv.Itoa(gcsPort),
		"--num-cpus=1", "--dashboard-host=127.0.0.1", "--dashboard-port=" + strconv.Itoa(dashPort), "--metrics-export-port=0",
		"--serve-port=0", "--dashboard-agent-listen-port=" + strconv.Itoa(testproc.Port(t, "127.0.0.1"))}
	headEnv := append([]string{"GORAY_SERVE_BINARY=" + examplesBin(t)}, env...)
	switch backend {
	case "file":
		headArgs = append(headArgs, "--gcs-storage-path="+filepath.Join(tmp, "gcs"))
	case "redis":
		srv := storagetest.StartRedis(t, storagetest.Options{})
		headEnv = append(headEnv, "RAY_REDIS_ADDRESS=redis://"+srv.Addr, "RAY_external_storage_namespace=ft")
	}
	headLog := filepath.Join(tmp, "head.log")
	head := startProc(t, headLog, headEnv, headArgs...)
	g := gcsClient(t, gcsAddr)
	head.waitUp(t, "head up", 60*time.Second, func() error {
		_, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		return err
	})
	startProc(t, filepath.Join(tmp, "worker2.log"), env, "start", "--block", "--address="+gcsAddr, "--node-ip-address=127.0.0.2",
		"--num-cpus=2", `--resources={"survivor": 1, "pgres": 1, "serve_node": 1}`, "--metrics-export-port=0",
		"--serve-port="+strconv.Itoa(servePort), "--dashboard-agent-listen-port="+strconv.Itoa(testproc.Port(t, "127.0.0.2")))
	startProc(t, filepath.Join(tmp, "worker3.log"), env, "start", "--block", "--address="+gcsAddr, "--node-ip-address=127.0.0.3",
		"--num-cpus=2", "--metrics-export-port=0", "--serve-port=0",
		"--dashboard-agent-listen-port="+strconv.Itoa(testproc.Port(t, "127.0.0.1")))
	nodeIDs := map[string]string{} // ip → id of the worker nodes
	var oldHeadID string
	eventually(t, "worker nodes registered", 60*time.Second, func() error {
		v, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		if err != nil {
			return err
		}
		for _, n := range v.Nodes {
			if n.Alive && n.IsHead {
				oldHeadID = n.NodeId
			} else if n.Alive {
				nodeIDs[n.Ip] = n.NodeId
			}
		}
		if len(nodeIDs) != 2 || oldHeadID == "" {
			return fmt.Errorf("nodes %v", v.Nodes)
		}
		return nil
	})

	// (c) A serve application with its replicas on the worker node
	// 127.0.0.2 takes closed-loop load through that node's proxy (deployed
	// first: its deploy would otherwise take workers from the job).
	so := beginServeOutage(t, serveOutageConfig{Dashboard: "http://127.0.0.1:" + strconv.Itoa(dashPort),
		ProxyURL: "http://127.0.0.2:" + strconv.Itoa(servePort), NodeIP: "127.0.0.2", Pin: "serve_node", GCS: g,
		MaxLoad: 10 * time.Minute})

	goFile := filepath.Join(tmp, "head-killed")
	d := startFTDriver(t, gcsAddr, goFile, filepath.Join(tmp, "driver.log"))
	waitLine := func(what string, timeout time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !ok() {
			select {
			case <-d.done:
				t.Fatalf("%s: the driver exited (%v):\n%s", what, d.err, d.output())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %s:\n%s", what, timeout, d.output())
			}
		}
	}
	var ready string
	waitLine("driver ready", 3*time.Minute, func() bool { ready, _ = d.find("ready "); return ready != "" })
	pgID, actorID := field(ready, "pg"), field(ready, "actor")
	if field(ready, "driver-node") != oldHeadID {
		t.Fatalf("the driver attached to node %s, not the head's %s: the scenario needs the head's node manager to die under it", field(ready, "driver-node"), oldHeadID)
	}
	if field(ready, "pgnode") != nodeIDs["127.0.0.2"] {
		t.Fatalf("the placement group's task ran on %s, want the pgres node %s", field(ready, "pgnode"), nodeIDs["127.0.0.2"])
	}

	nodeB := nodeAddress(t, g, nodeIDs["127.0.0.2"])
	snapshot := func(withPG bool) ftSnap {
		t.Helper()
		var s ftSnap
		jobs, err := g.GetJobs(ctx, &rpcpb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range jobs.Jobs {
			driver := j.DriverAddress
			if j.Namespace == "serve" {
				// The serve controller lives in the head's process: the
				// restarted one takes the same job over from a new address.
				driver = "(the serve controller)"
			}
			s.jobs = append(s.jobs, fmt.Sprintf("%s %s %s %s start=%d finished=%v", j.JobId, j.BinaryHash, driver, j.Namespace, j.StartTimeMs, j.Finished))
		}
		as, err := g.ListActors(ctx, &rpcpb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as.Actors {
			s.actors = append(s.actors, fmt.Sprintf("%s %s/%s %s job=%s %s at %s", a.ActorId, a.Namespace, a.Name, a.ClassName, a.JobId, a.State, a.Address))
		}
		s.reserved = reservedOn(t, nodeB)
		if !withPG {
			return s
		}
		pg, err := g.GetPlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: pgID})
		if err != nil {
			t.Fatal(err)
		}
		var bundles []string
		for _, b := range pg.Spec.GetBundles() {
			bundles = append(bundles, fmt.Sprint(b.Resources))
		}
		s.pg = fmt.Sprintf("%s %s nodes=%v bundles=%v", pg.PlacementGroupId, pg.State, pg.BundleNodes, bundles)
		return s
	}
	before := snapshot(true)
	if !strings.Contains(before.pg, "CREATED") || !strings.Contains(before.pg, nodeIDs["127.0.0.2"]) || before.reserved != "pgres 0/1" {
		t.Fatalf("before the restart: %+v", before)
	}

	// Kill the head mid-job, then start it again with the same flags.
	waitLine("the job under way", 3*time.Minute, func() bool { n, _ := d.progress(); return n >= 1500 })
	killedAt := time.Now()
	head.kill()
	atKill, _ := d.progress()
	if atKill >= ftFirst {
		t.Fatalf("the first %d tasks were done before the head was killed: not mid-job", ftFirst)
	}
	if err := os.WriteFile(goFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: head killed with %d of %d results in order", killedAt.Format("15:04:05.000"), atKill, ftTasks)
	head = startProc(t, headLog, headEnv, headArgs...)
	var newHeadID string
	head.waitUp(t, "head up again with both worker nodes registered", 90*time.Second, func() error {
		v, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		if err != nil {
			return err
		}
		alive := 0
		for _, n := range v.Nodes {
			if n.Alive && n.IsHead && n.NodeId != oldHeadID {
				newHeadID = n.NodeId
			}
			if n.Alive && (n.NodeId == nodeIDs["127.0.0.2"] || n.NodeId == nodeIDs["127.0.0.3"]) {
				alive++
			}
		}
		if alive != 2 || newHeadID == "" {
			return fmt.Errorf("nodes %v", v.Nodes)
		}
		return nil
	})
	t.Logf("%s: head back, worker nodes registered again (%s after the kill)", time.Now().Format("15:04:05.000"), time.Since(killedAt).Round(time.Millisecond))
	during := snapshot(true)
	if during.String() != before.String() {
		t.Fatalf("after the restart (job still running):\n%s\nbefore:\n%s", during, before)
	}

	// Serve came back with the same status and replicas while the job
	// ran, and kept serving through the outage.
	res := so.finish(t)
	t.Logf("%s backend, serve through the outage: %s", backend, res)
	log := head.logText()
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "serve:") {
			t.Logf("head: %s", line)
		}
	}
	if !strings.Contains(log, "3 replica(s) re-adopted, 0 gone") {
		t.Errorf("the restarted serve controller did not re-adopt the 3 replicas (head log above)")
	}

	select {
	case <-d.done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("the driver did not finish within 5 minutes of the restart:\n%s", d.output())
	}
	if d.err != nil {
		t.Fatalf("driver: %v\n%s\nhead log:\n%s", d.err, d.output(), head.logText())
	}
	if _, ok := d.find(fmt.Sprintf("all %d ok", ftTasks)); !ok {
		t.Fatalf("the driver did not check all %d results:\n%s", ftTasks, d.output())
	}
	if l, _ := d.find("actor="); l != "actor=4" {
		t.Fatalf("the actor through the driver's handle answered %q, want actor=4 (its state was 3):\n%s", l, d.output())
	}
	if l, _ := d.find("pgtask "); l != "pgtask "+nodeIDs["127.0.0.2"] {
		t.Fatalf("the task in the placement group after the restart: %q, want it on %s", l, nodeIDs["127.0.0.2"])
	}
	nodesLine, _ := d.find("nodes ")
	if !strings.Contains(nodesLine, oldHeadID+"=") {
		t.Fatalf("no task ran on the old head's node (%s): the outage did not hit running leases: %s", oldHeadID, nodesLine)
	}
	t.Logf("tasks per node (old head %s, new head %s): %s", oldHeadID, newHeadID, nodesLine)
	if l, ok := d.find("first-on " + newHeadID); ok {
		ms, _ := strconv.ParseInt(strings.Fields(l)[2], 10, 64)
		t.Logf("first task result from the new head's node %s after the kill", time.UnixMilli(ms).Sub(killedAt).Round(time.Millisecond))
	}
	t.Logf("longest pause in in-order results after the kill: %s", d.longestPause(killedAt).Round(time.Millisecond))
	moved := ""
	for _, l := range strings.Split(d.output(), "\n") {
		if strings.Contains(l, "this driver now uses node") {
			moved = l
		}
	}
	if moved == "" {
		t.Fatalf("the driver never left the dead head's node manager:\n%s", d.output())
	}
	t.Logf("driver: %s", moved)
	if lines := strings.Count(d.output(), "lease request failed"); lines > 20 {
		t.Fatalf("the driver logged %d lease failures: retries are not backing off:\n%s", lines, d.output())
	}

	// The job ended: its record says so, the actors are as before, and
	// its (not detached) placement group went with it, as in Ray, giving
	// the worker node its reservation back.
	want := before
	want.jobs = append([]string{}, before.jobs...)
	for i := range want.jobs {
		if !strings.Contains(want.jobs[i], " serve start=") { // the serve application's job runs on
			want.jobs[i] = strings.Replace(want.jobs[i], "finished=false", "finished=true", 1)
		}
	}
	want.pg, want.reserved = "", "pgres 1/1"
	var after ftSnap
	eventually(t, "the job marked finished, its placement group removed", 30*time.Second, func() error {
		if after = snapshot(false); after.String() != want.String() {
			return fmt.Errorf("at the end:\n%s\nwant:\n%s", after, want)
		}
		return nil
	})
	if _, err := g.GetPlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: pgID}); status.Code(err) != codes.NotFound {
		t.Fatalf("the finished job's placement group: %v, want NotFound", err)
	}
	// By name, with its state (3, then 4 through the handle).
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GORAY_RT_DRIVER=use", "GORAY_ADDRESS="+gcsAddr)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "count=5") {
		t.Fatalf("the actor by name: %v\n%s", err, out)
	}
	_ = actorID
}

type ftSnap struct {
	jobs, actors []string
	pg, reserved string
}

func (s ftSnap) String() string {
	return fmt.Sprintf("jobs:\n  %s\nactors:\n  %s\nplacement group: %s\nreserved on its node: %s",
		strings.Join(s.jobs, "\n  "), strings.Join(s.actors, "\n  "), s.pg, s.reserved)
}

// longestPause is the longest time between in-order progress lines (or from
// the kill to the first one) after the kill.
func (d *driverProc) longestPause(since time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := since
	var longest time.Duration
	for _, l := range d.lines {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "done" {
			continue
		}
		ms, _ := strconv.ParseInt(f[2], 10, 64)
		at := time.UnixMilli(ms)
		if at.Before(since) {
			continue
		}
		if gap := at.Sub(prev); gap > longest {
			longest = gap
		}
		prev = at
	}
	return longest
}

func nodeAddress(t *testing.T, g rpcpb.GcsClient, id string) string {
	t.Helper()
	v, err := g.GetNodes(context.Background(), &rpcpb.GetNodesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range v.Nodes {
		if n.NodeId == id {
			return n.Address
		}
	}
	t.Fatalf("no node %s", id)
	return ""
}

// reservedOn asks the node manager itself how much of "pgres" it has free
// (the placement group's bundle holds it).
func reservedOn(t *testing.T, addr string) string {
	t.Helper()
	conn, err := cluster.Dial(addr, auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := rpcpb.NewNodeManagerClient(conn).GetNodeStats(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pgres %g/%g", st.Available["pgres"], st.Total["pgres"])
}
