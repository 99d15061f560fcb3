package integration

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ray-project/kuberay/ray-operator/controllers/ray/utils/dashboardclient"
	utiltypes "github.com/ray-project/kuberay/ray-operator/controllers/ray/utils/types"
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

// TestKubeRayDashboardClient drives a token-auth head with KubeRay's own
// dashboard client: jobs submitted, followed, stopped and deleted, serve
// applications updated; without the token every call is a 401.
func TestKubeRayDashboardClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no runtime processes")
	}
	token := randomToken(t)
	c := startCluster(t, "127.0.0.154", "", baseEnv(t.TempDir(), "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+token), nil)
	url := "http://" + net.JoinHostPort(c.headIP, strconv.Itoa(c.dashboard))
	ctx := context.Background()
	rc := kuberayClient(url, token)
	anon, wrong := kuberayClient(url, ""), kuberayClient(url, "not-"+token)

	// A job that finishes: submitted, followed to SUCCEEDED, its logs read.
	id, err := rc.SubmitJobReq(ctx, &utiltypes.RayJobRequest{Entrypoint: "goray-examples square", SubmissionId: "kuberay-square",
		Metadata: map[string]string{"by": "kuberay"}})
	if err != nil || id != "kuberay-square" {
		t.Fatalf("SubmitJobReq: %q %v", id, err)
	}
	info := followJob(t, rc, id)
	if info.JobStatus != "SUCCEEDED" {
		t.Fatalf("job %s: %s %s", id, info.JobStatus, info.Message)
	}
	logs, err := rc.GetJobLog(ctx, id)
	if err != nil || logs == nil || !strings.Contains(*logs, "[0 1 4 9]") {
		t.Fatalf("GetJobLog: %v %v", logs, err)
	}

	// A job that runs until stopped.
	long, err := rc.SubmitJobReq(ctx, &utiltypes.RayJobRequest{Entrypoint: "sleep 300"})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(deadline)
	for {
		i, err := rc.GetJobInfo(ctx, long)
		if err != nil {
			t.Fatal(err)
		}
		if i.JobStatus == "RUNNING" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("job %s never ran: %s", long, i.JobStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Without the token (or with a wrong one) nothing goes through.
	for name, cl := range map[string]*dashboardclient.RayDashboardClient{"no token": anon, "wrong token": wrong} {
		if _, err := cl.ListJobs(ctx); err == nil || !strings.Contains(err.Error(), "auth token") { // its message has the body, not the status
			t.Errorf("%s: ListJobs: %v", name, err)
		}
		if _, err := cl.GetJobInfo(ctx, id); err == nil {
			t.Errorf("%s: GetJobInfo went through", name)
		}
		if _, err := cl.SubmitJobReq(ctx, &utiltypes.RayJobRequest{Entrypoint: "id"}); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: SubmitJobReq: %v", name, err)
		}
		if err := cl.StopJob(ctx, long); err == nil {
			t.Errorf("%s: StopJob went through", name)
		}
		if err := cl.UpdateDeployments(ctx, []byte(`{"applications":[]}`)); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: UpdateDeployments: %v", name, err)
		}
		if _, err := cl.GetServeDetails(ctx); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: GetServeDetails: %v", name, err)
		}
		_ = cl.DeleteJob(ctx, id) // KubeRay's DeleteJob ignores the answer: the job must still be there
	}
	jobs, err := rc.ListJobs(ctx)
	if err != nil || jobs == nil || len(*jobs) != 2 {
		t.Fatalf("ListJobs after the refused calls: %v %v", jobs, err)
	}

	if err := rc.StopJob(ctx, long); err != nil {
		t.Fatalf("StopJob: %v", err)
	}
	if i := followJob(t, rc, long); i.JobStatus != "STOPPED" {
		t.Fatalf("stopped job: %s", i.JobStatus)
	}
	for _, j := range []string{id, long} {
		if err := rc.DeleteJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if jobs, err := rc.ListJobs(ctx); err != nil || jobs == nil || len(*jobs) != 0 {
		t.Fatalf("ListJobs after DeleteJob: %v %v", jobs, err)
	}

	// Serve: KubeRay's RayService path.
	cfg := `{"applications":[{"name":"hello","route_prefix":"/hello","import_path":"hello"}]}`
	if err := rc.UpdateDeployments(ctx, []byte(cfg)); err != nil {
		t.Fatalf("UpdateDeployments: %v", err)
	}
	end = time.Now().Add(deadline)
	for {
		st, err := rc.GetMultiApplicationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if a := st["hello"]; a != nil && a.Status == "RUNNING" {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("application never RUNNING: %+v", st["hello"])
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitIngress(t, "http://"+net.JoinHostPort(c.headIP, strconv.Itoa(c.serve))+"/hello")
}

func followJob(t *testing.T, rc *dashboardclient.RayDashboardClient, id string) *utiltypes.RayJobInfo {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		i, err := rc.GetJobInfo(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		switch i.JobStatus {
		case "SUCCEEDED", "FAILED", "STOPPED":
			return i
		}
		if time.Now().After(end) {
			t.Fatalf("job %s never ended: %s", id, i.JobStatus)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
