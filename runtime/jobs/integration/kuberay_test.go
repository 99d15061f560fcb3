package integration

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/ray-project/kuberay/ray-operator/controllers/ray/utils/dashboardclient"
	utiltypes "github.com/ray-project/kuberay/ray-operator/controllers/ray/utils/types"

	"github.com/goray-dev/goray/runtime/jobs/client"
)

// rayHeader sends the token the way KubeRay's operator does: its v1.5.0
// dashboard client takes no token, so it goes in through the transport as
// x-ray-authorization.
type rayHeader struct{ token string }

func (h rayHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if h.token != "" {
		r.Header.Set("x-ray-authorization", "Bearer "+h.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func kuberayClient(url, token string) *dashboardclient.RayDashboardClient {
	c := &dashboardclient.RayDashboardClient{}
	c.InitClient(&http.Client{Transport: rayHeader{token}, Timeout: deadline}, url)
	return c
}

// TestKubeRayDashboardClient calls every method of KubeRay's dashboard
// client (v1.5.0, what its RayJob and RayService controllers use) against
// a goray head with token auth, and checks what each answer means to
// KubeRay: a resubmitted submission id is "already used" with the id
// returned (Ray's 500), an unknown job is a BadRequest for GetJobInfo and
// no log for GetJobLog, stopping an ended job is no error.
func TestKubeRayDashboardClient(t *testing.T) {
	needProcesses(t)
	token := randomToken(t)
	c := startCluster(t, "127.0.0.181", "", token)
	ctx := context.Background()
	rc := kuberayClient(c.url(), token)

	// SubmitJob: a RayJob as the HTTPMode controller submits it, its
	// runtime env in YAML and entrypoint resources.
	rj := &rayv1.RayJob{ObjectMeta: metav1.ObjectMeta{Name: "compat", Namespace: "default"},
		Spec: rayv1.RayJobSpec{Entrypoint: `echo "greeting=$GREETING"`, Metadata: map[string]string{"by": "kuberay"},
			RuntimeEnvYAML: "env_vars:\n  GREETING: hello-from-yaml\n", EntrypointNumCpus: 0.5},
		Status: rayv1.RayJobStatus{JobId: "compat-abcde"}}
	id, err := rc.SubmitJob(ctx, rj)
	if err != nil || id != "compat-abcde" {
		t.Fatalf("SubmitJob: %q %v", id, err)
	}
	info := followJob(t, rc, id)
	if info.JobStatus != rayv1.JobStatusSucceeded || info.Entrypoint != rj.Spec.Entrypoint || info.Metadata["by"] != "kuberay" ||
		info.SubmissionId != id || info.StartTime == 0 || info.EndTime < info.StartTime || info.Message != "Job finished successfully." {
		t.Fatalf("GetJobInfo: %+v", info)
	}
	if env, _ := info.RuntimeEnv["env_vars"].(map[string]any); env["GREETING"] != "hello-from-yaml" {
		t.Errorf("runtime_env %v", info.RuntimeEnv)
	}
	gc := &client.Client{BaseURL: c.url(), HTTP: &http.Client{Transport: rayHeader{token}}}
	if d, err := gc.Get(ctx, id); err != nil || d.EntrypointNumCPUs == nil || *d.EntrypointNumCPUs != 0.5 {
		t.Errorf("entrypoint_num_cpus of the submitted RayJob: %+v %v", d, err)
	}
	logs, err := rc.GetJobLog(ctx, id)
	if err != nil || logs == nil || *logs != "greeting=hello-from-yaml\n" {
		t.Fatalf("GetJobLog: %v %v", logs, err)
	}

	// SubmitJobReq with the same submission id, as a retried submission
	// sends it: KubeRay recognises Ray's answer and gets the id back.
	again, err := rc.SubmitJobReq(ctx, &utiltypes.RayJobRequest{Entrypoint: "echo replaced", SubmissionId: id})
	if again != id || err == nil || !strings.Contains(err.Error(), "Please use a different submission_id") {
		t.Fatalf("duplicate SubmitJobReq: %q %v, want the id and KubeRay's already-used error", again, err)
	}
	if i, err := rc.GetJobInfo(ctx, id); err != nil || i.Entrypoint != rj.Spec.Entrypoint || i.JobStatus != rayv1.JobStatusSucceeded {
		t.Fatalf("the duplicate changed the job: %+v %v", i, err)
	}

	// A job that runs until StopJob; stopping it again once it ended is no error.
	long, err := rc.SubmitJobReq(ctx, &utiltypes.RayJobRequest{Entrypoint: "echo started; sleep 300"})
	if err != nil || !strings.HasPrefix(long, "raysubmit_") {
		t.Fatalf("SubmitJobReq: %q %v", long, err)
	}
	waitJob(t, rc, long, func(i *utiltypes.RayJobInfo) bool { return i.JobStatus == rayv1.JobStatusRunning })
	jobs, err := rc.ListJobs(ctx)
	if err != nil || jobs == nil || len(*jobs) != 2 {
		t.Fatalf("ListJobs: %v %v", jobs, err)
	}
	for _, j := range *jobs {
		if want := map[string]rayv1.JobStatus{id: rayv1.JobStatusSucceeded, long: rayv1.JobStatusRunning}[j.SubmissionId]; j.JobStatus != want {
			t.Errorf("ListJobs: %s is %s, want %s", j.SubmissionId, j.JobStatus, want)
		}
	}
	if err := rc.StopJob(ctx, long); err != nil {
		t.Fatalf("StopJob: %v", err)
	}
	if i := followJob(t, rc, long); i.JobStatus != rayv1.JobStatusStopped || i.Message != "Job was intentionally stopped." {
		t.Fatalf("stopped job: %+v", i)
	}
	if err := rc.StopJob(ctx, long); err != nil {
		t.Errorf("StopJob of a stopped job: %v", err)
	}

	// An unknown job: GetJobInfo is KubeRay's BadRequest, GetJobLog no log.
	if i, err := rc.GetJobInfo(ctx, "no-such-job"); i != nil || !apierrors.IsBadRequest(err) {
		t.Errorf("GetJobInfo of an unknown job: %+v %v", i, err)
	}
	if l, err := rc.GetJobLog(ctx, "no-such-job"); l != nil || err != nil {
		t.Errorf("GetJobLog of an unknown job: %v %v", l, err)
	}

	// DeleteJob takes the ended jobs away.
	for _, j := range []string{id, long} {
		if err := rc.DeleteJob(ctx, j); err != nil {
			t.Fatalf("DeleteJob: %v", err)
		}
		if _, err := rc.GetJobInfo(ctx, j); !apierrors.IsBadRequest(err) {
			t.Errorf("GetJobInfo after DeleteJob: %v", err)
		}
	}
	if jobs, err := rc.ListJobs(ctx); err != nil || jobs == nil || len(*jobs) != 0 {
		t.Fatalf("ListJobs after DeleteJob: %v %v", jobs, err)
	}

	// Serve, as the RayService controller drives it: UpdateDeployments,
	// then GetServeDetails and GetMultiApplicationStatus (which converts the
	// details with ConvertServeDetailsToApplicationStatuses).
	cfg := `{"applications":[{"name":"hello","route_prefix":"/hello","import_path":"hello"}]}`
	if err := rc.UpdateDeployments(ctx, []byte(cfg)); err != nil {
		t.Fatalf("UpdateDeployments: %v", err)
	}
	end := time.Now().Add(deadline)
	for {
		st, err := rc.GetMultiApplicationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a := st["hello"]; a != nil && a.Status == "RUNNING" && len(a.Deployments) > 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("application never RUNNING: %+v", st["hello"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	details, err := rc.GetServeDetails(ctx)
	if err != nil || details.Applications["hello"].RoutePrefix != "/hello" || details.DeployMode != "MULTI_APP" {
		t.Fatalf("GetServeDetails: %+v %v", details, err)
	}
	if err := rc.UpdateDeployments(ctx, []byte(`{"applications": [{"name": "hello", "route_prefix": "/hello"}]}`)); err == nil ||
		!strings.Contains(err.Error(), "400") {
		t.Errorf("UpdateDeployments without import_path: %v, want a 400", err)
	}
}

// followJob polls a job with KubeRay's client until it ends.
func followJob(t *testing.T, rc *dashboardclient.RayDashboardClient, id string) *utiltypes.RayJobInfo {
	t.Helper()
	return waitJob(t, rc, id, func(i *utiltypes.RayJobInfo) bool { return rayv1.IsJobTerminal(i.JobStatus) })
}

func waitJob(t *testing.T, rc *dashboardclient.RayDashboardClient, id string, done func(*utiltypes.RayJobInfo) bool) *utiltypes.RayJobInfo {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		i, err := rc.GetJobInfo(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if done(i) {
			return i
		}
		if time.Now().After(end) {
			t.Fatalf("job %s: still %s", id, i.JobStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestKubeRaySubmitterRetry runs KubeRay's own light-weight submitter
// (ray-operator/rayjob-submitter, what a K8sJobMode submitter pod runs)
// twice for one submission id, as the Job controller retries a submitter
// pod that died: the second run must follow the job the first submitted
// to its end, not fail. It runs against a head without auth, as KubeRay's
// clusters run by default: the submitter's log stream sends no token.
func TestKubeRaySubmitterRetry(t *testing.T) {
	needProcesses(t)
	c := startCluster(t, "127.0.0.182", "", "")
	submitter := filepath.Join(binDir, "kuberay-rayjob-submitter")
	build := exec.Command("go", "build", "-o", submitter, "github.com/ray-project/kuberay/ray-operator/rayjob-submitter/cmd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build KubeRay's submitter: %v\n%s", err, out)
	}
	const id = "retried-x1y2z"
	env := append(append([]string{}, c.env...), "RAY_DASHBOARD_ADDRESS="+net.JoinHostPort(c.headIP, strconv.Itoa(c.dashboard)),
		"RAY_JOB_SUBMISSION_ID="+id)
	args := []string{"--metadata-json", `{"attempt": "first"}`, "--", "sh", "-c", "'echo first-line; sleep 3; echo last-line'"}

	// The first submitter is killed while it follows the running job.
	first := start(t, env, filepath.Join(c.dir, "submitter1.log"), submitter, args...)
	end := time.Now().Add(deadline)
	for !strings.Contains(first.log(), "first-line") {
		if time.Now().After(end) {
			t.Fatalf("first submitter never showed the job's output:\n%s", first.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.exited

	// Its replacement submits the same id, is told it is taken, and follows.
	second := exec.Command(submitter, args...)
	second.Env = env
	out, err := second.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "INFO -- Job '"+id+"' has already been submitted, tailing logs.") ||
		!strings.Contains(string(out), "last-line") || !strings.Contains(string(out), "SUCC -- Job '"+id+"' succeeded") {
		t.Fatalf("the retried submitter: %v\n%s", err, out)
	}
	gc := &client.Client{BaseURL: c.url()}
	jobs, err := gc.List(context.Background())
	if err != nil || len(jobs) != 1 || jobs[0].ID() != id || jobs[0].Status != "SUCCEEDED" || jobs[0].Metadata["attempt"] != "first" {
		t.Fatalf("jobs after the retry: %+v %v", jobs, err)
	}
	if b, _ := os.ReadFile(filepath.Join(c.dir, "head", "logs", "job-driver-"+id+".log")); string(b) != "first-line\nlast-line\n" {
		t.Errorf("the job ran more than once: its log is %q", b)
	}
}
