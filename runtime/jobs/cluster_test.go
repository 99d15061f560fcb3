package jobs_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/jobs/api"
	"github.com/goray-dev/goray/runtime/jobs/client"
)

func ptr[T any](v T) *T { return &v }

func TestWorkingDirPackage(t *testing.T) {
	needHead(t)
	c, ctx := shared.c, context.Background()
	dir := t.TempDir()
	_ = os.MkdirAll(filepath.Join(dir, "data"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "run.sh"), []byte("echo from-script\ncat data/in.txt\n"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "data", "in.txt"), []byte("payload-42\n"), 0o644)
	uri, err := c.UploadWorkingDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(uri, "gcs://_goray_pkg_") || !strings.HasSuffix(uri, ".zip") {
		t.Fatalf("uri %q", uri)
	}
	if again, err := c.UploadWorkingDir(ctx, dir); err != nil || again != uri {
		t.Errorf("re-upload gave %q, %v; want the same content address", again, err)
	}
	id := submit(t, c, api.SubmitRequest{Entrypoint: "sh run.sh && pwd", RuntimeEnv: map[string]any{"working_dir": uri}})
	waitStatus(t, c, id, api.StatusSucceeded)
	logs, _ := c.Logs(ctx, id)
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) != 3 || lines[0] != "from-script" || lines[1] != "payload-42" || !strings.Contains(lines[2], id) {
		t.Errorf("logs %q: want the script's output and a per-job cwd", logs)
	}
	d, _ := c.Get(ctx, id)
	if d.RuntimeEnv["working_dir"] != uri {
		t.Errorf("runtime_env %v", d.RuntimeEnv)
	}

	missing := api.PackageURI(strings.Repeat("ab", 32))
	id = submit(t, c, api.SubmitRequest{Entrypoint: "true", RuntimeEnv: map[string]any{"working_dir": missing}})
	d = waitStatus(t, c, id, api.StatusFailed)
	if d.ErrorType == nil || *d.ErrorType != api.ErrTypeRuntimeEnvSetup || !strings.Contains(d.MessageText(), "working_dir") {
		t.Errorf("missing package: %v %q", d.ErrorType, d.MessageText())
	}
	code, _, _ := httpDo(t, http.MethodGet, shared.url+"/api/packages/gcs/"+strings.TrimPrefix(missing, "gcs://"), "")
	if code != http.StatusNotFound {
		t.Errorf("GET missing package: %d", code)
	}
	code, _, body := httpDo(t, http.MethodPut, shared.url+"/api/packages/gcs/"+strings.TrimPrefix(missing, "gcs://"), "not that content")
	if code != http.StatusBadRequest || !strings.Contains(body, "hashes to") {
		t.Errorf("PUT with a wrong hash: %d %q", code, body)
	}
}

func TestEntrypointResources(t *testing.T) {
	needHead(t)
	c, ctx := shared.c, context.Background()
	// More CPUs than the 2-CPU head has: the job waits with Ray's message.
	big := submit(t, c, api.SubmitRequest{Entrypoint: "echo never", EntrypointNumCPUs: ptr(100.0)})
	d, _ := c.Get(ctx, big)
	if d.Status != api.StatusPending || d.MessageText() != api.MsgPending+api.MsgPendingResources {
		t.Errorf("big job: %s %q", d.Status, d.MessageText())
	}
	if d.EntrypointNumCPUs == nil || *d.EntrypointNumCPUs != 100 {
		t.Errorf("entrypoint_num_cpus %v", d.EntrypointNumCPUs)
	}

	// A job holding both CPUs keeps a 1-CPU job pending until it ends.
	g := newGate(t)
	holder := submit(t, c, api.SubmitRequest{Entrypoint: g.wait(), EntrypointNumCPUs: ptr(2.0)})
	waitStatus(t, c, holder, api.StatusRunning)
	small := submit(t, c, api.SubmitRequest{Entrypoint: "echo small-ran", EntrypointNumCPUs: ptr(1.0)})
	if d, _ := c.Get(ctx, small); d.Status != api.StatusPending {
		t.Errorf("small job is %s while the holder has every CPU", d.Status)
	}
	g.open(t)
	waitStatus(t, c, holder, api.StatusSucceeded)
	waitStatus(t, c, small, api.StatusSucceeded)
	if logs, _ := c.Logs(ctx, small); logs != "small-ran\n" {
		t.Errorf("small logs %q", logs)
	}

	// The big job is still pending; stopping it ends it and frees its reservation request.
	if d, _ := c.Get(ctx, big); d.Status != api.StatusPending {
		t.Errorf("big job became %s", d.Status)
	}
	if ok, err := c.Stop(ctx, big); err != nil || !ok {
		t.Fatalf("stop pending job = %v, %v", ok, err)
	}
	waitStatus(t, c, big, api.StatusStopped)
	if logs, _ := c.Logs(ctx, big); logs != "" {
		t.Errorf("a job that never started has logs %q", logs)
	}
}

// TestDashboardRestart runs the dashboard as its own process (goray
// dashboard) against a head without one, kills it while a job runs, and
// starts it again: finished jobs and their logs are still there, and the
// job that was running is FAILED with a message saying why.
func TestDashboardRestart(t *testing.T) {
	needHead(t)
	dir := t.TempDir()
	h, err := startHead(filepath.Join(dir, "head"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer h.stop()
	port, err := testproc.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	startDash := func(n int) *proc {
		p, err := startProc(filepath.Join(dir, "dash"+strconv.Itoa(n)+".out"), "dashboard", "--gcs-address="+h.gcsAddr,
			"--port="+strconv.Itoa(port), "--temp-dir="+h.dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.useDashboard(port); err != nil {
			p.stop()
			t.Fatal(err)
		}
		return p
	}
	dash := startDash(1)
	c, ctx := h.c, context.Background()
	done := submit(t, c, api.SubmitRequest{Entrypoint: "echo kept-log", SubmissionID: "restart-done"})
	waitStatus(t, c, done, api.StatusSucceeded)
	running := submit(t, c, api.SubmitRequest{Entrypoint: "echo up; sleep 1000", SubmissionID: "restart-running"})
	waitFor(t, c, running, "running with output", func(d *api.JobDetails) bool {
		l, _ := c.Logs(ctx, running)
		return d.Status == api.StatusRunning && l == "up\n"
	})
	dash.signal(syscall.SIGKILL) // a crash: no chance to record anything

	dash = startDash(2)
	defer dash.stop()
	d := waitStatus(t, c, done, api.StatusSucceeded)
	if d.DriverExitCode == nil || *d.DriverExitCode != 0 {
		t.Errorf("restored record %+v", d)
	}
	if logs, err := c.Logs(ctx, done); err != nil || logs != "kept-log\n" {
		t.Errorf("logs after restart %q, %v", logs, err)
	}
	d = waitStatus(t, c, running, api.StatusFailed)
	if !strings.Contains(d.MessageText(), "restarted while the job was RUNNING") || d.EndTime == nil {
		t.Errorf("orphaned job: %q", d.MessageText())
	}
	// Its processes, orphaned when the crash took their shell, are gone too.
	waitNoProcess(t, "RAY_JOB_SUBMISSION_ID="+running)
	jobs, err := c.List(ctx)
	if err != nil || len(jobs) != 2 {
		t.Errorf("list after restart: %d jobs, %v", len(jobs), err)
	}
	if _, err := c.Submit(ctx, api.SubmitRequest{Entrypoint: "true", SubmissionID: done}); !client.IsDuplicate(err) {
		t.Errorf("a restarted dashboard must still reject a taken id: %v", err)
	}
}

// TestCLI is acceptance 3 (goray job submit -- goray-examples pi prints the
// logs and exits 0) plus the other subcommands. The reserving submission
// asks for memory, not CPUs: the runtime may still be returning the pi
// driver's worker leases when it is submitted.
func TestCLI(t *testing.T) {
	needHead(t)
	addr := strings.TrimPrefix(shared.url, "http://") // host:port, as KubeRay passes it
	goray := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "goray"), append([]string{"job"}, args...)...)
		cmd.Env = append(os.Environ(), "RAY_DASHBOARD_ADDRESS="+addr)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := goray("submit", "--address", addr, "--submission-id", "cli-pi", "--", "goray-examples", "pi")
	if err != nil || !strings.Contains(out, "pi ≈ 3.1") || !strings.Contains(out, "Job 'cli-pi' succeeded") {
		t.Fatalf("submit pi: %v\n%s", err, out)
	}
	if out, err := goray("status", "cli-pi"); err != nil || !strings.Contains(out, "SUCCEEDED") {
		t.Errorf("status: %v %s", err, out)
	}
	if out, err := goray("status", "cli-no-such"); err == nil || !strings.Contains(out, "does not exist") {
		t.Errorf("status of an unknown job must fail: %v %s", err, out)
	}
	if out, err := goray("submit", "--", "sh", "-c", "echo bad-end; exit 4"); err == nil || !strings.Contains(out, "bad-end") ||
		!strings.Contains(out, "exit code 4") {
		t.Errorf("a failing job must exit non-zero: %v %s", err, out)
	}
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from the working dir\n"), 0o644)
	out, err = goray("submit", "--no-wait", "--submission-id", "cli-wd", "--working-dir", dir,
		"--runtime-env-json", `{"env_vars": {"GREETING": "hi"}}`, "--entrypoint-memory", "1000000", "--", `cat hello.txt; echo $GREETING`)
	if err != nil || !strings.Contains(out, "submitted successfully") {
		t.Fatalf("submit --no-wait: %v %s", err, out)
	}
	if out, err := goray("logs", "--follow", "cli-wd"); err != nil || out != "hello from the working dir\nhi\n" {
		t.Errorf("logs --follow: %v %q", err, out)
		d, err := shared.c.Get(context.Background(), "cli-wd")
		_, _, st := httpDo(t, http.MethodGet, shared.url+"/api/cluster_status", "")
		t.Fatalf("job: %+v %v %q\ncluster: %s\nhead log:\n%s", d, err, d.MessageText(), st, shared.log())
	}
	if out, err := goray("logs", "cli-wd"); err != nil || out != "hello from the working dir\nhi\n" {
		t.Errorf("logs: %v %q", err, out)
	}
	if out, err := goray("list"); err != nil || !strings.Contains(out, "cli-wd") || !strings.Contains(out, "cli-pi") {
		t.Errorf("list: %v %s", err, out)
	}
	if _, err := goray("submit", "--no-wait", "--submission-id", "cli-stop", "--", "sleep", "1000"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, shared.c, "cli-stop", api.StatusRunning)
	if out, err := goray("stop", "cli-stop"); err != nil || !strings.Contains(out, "was stopped") {
		t.Errorf("stop: %v %s", err, out)
	}
	if out, err := goray("delete", "cli-stop"); err != nil || !strings.Contains(out, "deleted") {
		t.Errorf("delete: %v %s", err, out)
	}
	if out, err := goray("status", "cli-stop"); err == nil {
		t.Errorf("status after delete: %s", out)
	}
}

// waitNoProcess waits until no process has env (KEY=VALUE) in its environment.
func waitNoProcess(t *testing.T, env string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	end := time.Now().Add(deadline)
	for {
		var left []string
		procs, _ := filepath.Glob("/proc/[0-9]*/environ")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err == nil && bytes.Contains(append(b, 0), []byte(env+"\x00")) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("processes with %s still running: %v", env, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPythonRuntimeEnvFails: a job whose runtime_env asks for what goray
// cannot set up (pip packages here) fails with Ray's
// RUNTIME_ENV_SETUP_FAILED instead of running without them; its entrypoint
// never runs.
func TestPythonRuntimeEnvFails(t *testing.T) {
	needHead(t)
	c, ctx := shared.c, context.Background()
	marker := filepath.Join(t.TempDir(), "ran")
	id := submit(t, c, api.SubmitRequest{Entrypoint: "touch " + marker, RuntimeEnv: map[string]any{"pip": []any{"requests==2.26.0"}}})
	d := waitStatus(t, c, id, api.StatusFailed)
	if d.ErrorType == nil || *d.ErrorType != api.ErrTypeRuntimeEnvSetup || !strings.Contains(d.MessageText(), "runtime_env.pip") {
		t.Fatalf("error type %v, message %q", d.ErrorType, d.MessageText())
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the entrypoint ran")
	}
	if got, _ := c.Get(ctx, id); got.RuntimeEnv["pip"] == nil {
		t.Errorf("the job's runtime_env lost pip: %v", got.RuntimeEnv)
	}
}
