package jobs_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/jobs/api"
	"github.com/goray-dev/goray/runtime/jobs/client"
)

// The tests run against real `goray start --head` processes on loopback,
// built once by TestMain together with goray-examples (put on PATH).

var (
	binDir string
	shared *headProc
)

const deadline = 90 * time.Second

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// needHead skips a test that needs head processes under -short.
func needHead(t *testing.T) {
	if shared == nil {
		t.Skip("-short: no runtime processes")
	}
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() || fuzzing() {
		return m.Run()
	}
	d, err := os.MkdirTemp("", "goray-jobs-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(d)
	binDir = filepath.Join(d, "bin")
	build := testproc.GoBuild(binDir+"/", "github.com/goray-dev/goray/cmd/goray", "github.com/goray-dev/goray/cmd/goray-examples")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build goray:", err)
		return 1
	}
	_ = os.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	testproc.CollectRaces(d) // the heads and the job processes they start
	shared, err = startHead(filepath.Join(d, "shared"), true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer shared.stop()
	return testproc.RunCheckingRaces(m, d)
}

// fuzzing reports whether this run fuzzes (its workers run TestMain too):
// the fuzz targets need no runtime processes.
func fuzzing() bool {
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return true
	}
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}

// proc is a process a test started; stop ends it by pid.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	out    string
}

func startProc(logPath string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(binDir, "goray"), args...)
	cmd.Stdout, cmd.Stderr = f, f
	testproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, exited: make(chan struct{}), out: logPath}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(p.exited) }()
	return p, nil
}

func (p *proc) signal(sig syscall.Signal) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) stop() { p.signal(syscall.SIGTERM) }

func (p *proc) log() string {
	b, _ := os.ReadFile(p.out)
	return string(b)
}

type headProc struct {
	*proc
	dir     string
	url     string
	gcsAddr string
	c       *client.Client
}

// startHead starts `goray start --head` with 2 CPUs, with its dashboard or
// (withDashboard false) without one.
func startHead(dir string, withDashboard bool) (*headProc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port := 0
	if withDashboard {
		var err error
		if port, err = testproc.FreePort("127.0.0.1"); err != nil {
			return nil, err
		}
	}
	p, err := startProc(filepath.Join(dir, "head.out"), "start", "--head", "--block", "--port=0", "--num-cpus=2",
		"--dashboard-port="+strconv.Itoa(port), "--metrics-export-port=0", "--dashboard-agent-listen-port=0", "--temp-dir="+dir)
	if err != nil {
		return nil, err
	}
	h := &headProc{proc: p, dir: dir}
	end := time.Now().Add(deadline)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "gcs_address")); err == nil && len(b) > 0 {
			h.gcsAddr = string(b)
			break
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("head exited:\n%s", p.log())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(end) {
			p.stop()
			return nil, fmt.Errorf("head did not start:\n%s", p.log())
		}
	}
	if withDashboard {
		if err := h.useDashboard(port); err != nil {
			p.stop()
			return nil, err
		}
	}
	return h, nil
}

// useDashboard points the head's client at a dashboard port and waits for it.
func (h *headProc) useDashboard(port int) error {
	h.url = "http://127.0.0.1:" + strconv.Itoa(port)
	// Every call is bounded, so a wedged server fails the test instead of hanging it.
	h.c = &client.Client{BaseURL: h.url, HTTP: &http.Client{Timeout: deadline}}
	probe := &client.Client{BaseURL: h.url, HTTP: &http.Client{Timeout: 5 * time.Second}}
	end := time.Now().Add(deadline)
	for {
		if _, err := probe.Version(context.Background()); err == nil {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("dashboard on %s did not answer:\n%s", h.url, h.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls a job until cond holds.
func waitFor(t *testing.T, c *client.Client, id string, what string, cond func(*api.JobDetails) bool) *api.JobDetails {
	t.Helper()
	end := time.Now().Add(deadline)
	var last *api.JobDetails
	for time.Now().Before(end) {
		d, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		last = d
		if cond(d) {
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("job %s never became %s; last: %s %q", id, what, last.Status, last.MessageText())
	return nil
}

func waitStatus(t *testing.T, c *client.Client, id string, st api.JobStatus) *api.JobDetails {
	t.Helper()
	return waitFor(t, c, id, string(st), func(d *api.JobDetails) bool {
		if d.Status.IsTerminal() && d.Status != st {
			t.Fatalf("job %s ended %s, want %s: %s", id, d.Status, st, d.MessageText())
		}
		return d.Status == st
	})
}

func submit(t *testing.T, c *client.Client, req api.SubmitRequest) string {
	t.Helper()
	id, err := c.Submit(context.Background(), req)
	if err != nil {
		t.Fatalf("submit %q: %v", req.Entrypoint, err)
	}
	return id
}

// gate is a file a job waits for, so tests control when it moves on.
type gate string

func newGate(t *testing.T) gate { return gate(filepath.Join(t.TempDir(), "gate")) }

// wait is shell code that blocks until the gate opens.
func (g gate) wait() string { return fmt.Sprintf("while [ ! -f %s ]; do sleep 0.05; done", g) }

func (g gate) open(t *testing.T) {
	if err := os.WriteFile(string(g), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func httpDo(t *testing.T, method, url, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := (&http.Client{Timeout: deadline}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b.String()
}
