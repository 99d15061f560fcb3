package jobs_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// The probes that broke a real head, against a real head: each is refused
// with a 400 naming the field and its limit, and the head still lists every
// job afterwards. (Bodies over the request limit, 413, are
// TestSubmitBodyOverLimitIs413's: a client still writing a body the server
// refused unread may see its connection reset before the answer.)
func TestHeadRefusesOversizedSubmissions(t *testing.T) {
	needHead(t)
	c, u := shared.c, shared.url
	before := submit(t, c, api.SubmitRequest{Entrypoint: "echo kept", Metadata: map[string]string{"probe": "before"}})
	waitStatus(t, c, before, api.StatusSucceeded)
	body := func(r api.SubmitRequest) string {
		b, _ := json.Marshal(r)
		return string(b)
	}
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name, body string
		code       int
		wants      []string
	}{
		{"1 MB metadata", body(api.SubmitRequest{Entrypoint: "true", Metadata: map[string]string{"m": strings.Repeat("x", 1<<20)}}),
			http.StatusBadRequest, []string{"metadata", "16384"}},
		{"300-character submission_id", body(api.SubmitRequest{Entrypoint: "true", SubmissionID: strings.Repeat("s", 300)}),
			http.StatusBadRequest, []string{"submission_id", "128"}},
		{"newline in submission_id", body(api.SubmitRequest{Entrypoint: "true", SubmissionID: "x\ny"}),
			http.StatusBadRequest, []string{"submission_id"}},
		{"100 KiB entrypoint", body(api.SubmitRequest{Entrypoint: "true " + strings.Repeat("e", 100<<10)}),
			http.StatusBadRequest, []string{"entrypoint", "65536"}},
		{"entrypoint_num_cpus 1e308", body(api.SubmitRequest{Entrypoint: "true", EntrypointNumCPUs: f(1e308)}),
			http.StatusBadRequest, []string{"entrypoint_num_cpus", "1e+06"}},
		{"env_vars A=B", `{"entrypoint":"true","runtime_env":{"env_vars":{"A=B":"x"}}}`,
			http.StatusBadRequest, []string{"env_vars", "'='"}},
	} {
		code, _, got := httpDo(t, http.MethodPost, u+"/api/jobs/", tc.body)
		if code != tc.code {
			t.Errorf("%s: %d %.300q, want %d", tc.name, code, got, tc.code)
			continue
		}
		for _, w := range tc.wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q does not name %q", tc.name, got, w)
			}
		}
	}
	code, _, list := httpDo(t, http.MethodGet, u+"/api/jobs/", "")
	if code != http.StatusOK || !strings.Contains(list, before) {
		t.Fatalf("GET /api/jobs/ after the probes: %d %.300q", code, list)
	}
	if logs, err := c.Logs(t.Context(), before); err != nil || logs != "kept\n" {
		t.Errorf("logs of the job from before: %q %v", logs, err)
	}
}
