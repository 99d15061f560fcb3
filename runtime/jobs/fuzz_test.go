package jobs

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// FuzzSubmitRequest feeds POST /api/jobs/ bodies to the handler's decoding
// and validation. Properties: no panic; every refusal is a 400 or 413; the
// outcome depends only on the body; an accepted request keeps every
// documented limit, its stored record (with the largest failure message a
// job can get) fits the record limit, and it survives a JSON round trip
// unchanged and accepted.
func FuzzSubmitRequest(f *testing.F) {
	for _, s := range []string{
		`{"entrypoint":"echo hi"}`,
		`{"entrypoint":"python x.py","submission_id":"raysubmit_abc123","metadata":{"owner":"me"},"runtime_env":{"env_vars":{"A":"1"},"working_dir":"gcs://_goray_pkg_00.zip"},"entrypoint_num_cpus":1,"entrypoint_num_gpus":0.5,"entrypoint_memory":1000,"entrypoint_resources":{"TPU":2}}`,
		`{"entrypoint":"true","job_id":"old-style"}`,
		`{"entrypoint":"true","job_id":"a","submission_id":"b"}`,
		`{"entrypoint":"true","submission_id":"a\nb"}`,
		`{"entrypoint":"true","entrypoint_num_cpus":1e308}`,
		`{"entrypoint":"true","entrypoint_num_cpus":-1}`,
		`{"entrypoint":"true","runtime_env":{"env_vars":{"A=B":"x"}}}`,
		`{"entrypoint":"true","runtime_env":{"env_vars":{"A":1}}}`,
		`{"entrypoint":"<&>\u2028\u0000"}`,
		`{"entrypoint":"true"} trailing`,
		`{"entrypoint":"true"}}`,
		`[1,2]`,
		`{"entrypoint": `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 64<<10 {
			return // the limits at sizes beyond are the unit tests'; small inputs minimize fast
		}
		req, err := parseSubmit(body)
		req2, err2 := parseSubmit(body)
		if (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			var bad *BadRequestError
			if !errors.As(err, &bad) && !errors.Is(err, errBodyTooLarge) {
				t.Fatalf("refused with %T %v, which the API answers 500", err, err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("a %d-byte message echoes the request: %.200s", len(err.Error()), err)
			}
			return
		}
		if !reflect.DeepEqual(req, req2) {
			t.Fatalf("decoded differently: %+v / %+v", req, req2)
		}
		checkSubmitLimits(t, req)
		id := req.SubmissionID
		if id == "" {
			id = newSubmissionID()
		}
		rec, _ := newRecord(req, id, 1)
		worst := "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars):\n" + strings.Repeat("\x01", failLogChars)
		rec.Message = &worst
		if _, err := marshalRecord(rec); err != nil {
			t.Fatalf("an accepted request's record: %v", err)
		}
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseSubmit(b)
		if err != nil {
			t.Fatalf("re-encoded (%d bytes) it is refused: %v", len(b), err)
		}
		if !reflect.DeepEqual(emptyToNil(req), emptyToNil(back)) {
			t.Fatalf("round trip changed it:\n%+v\n%+v", req, back)
		}
	})
}

// emptyToNil makes the maps omitempty drops nil, as a round trip does.
func emptyToNil(r api.SubmitRequest) api.SubmitRequest {
	if len(r.Metadata) == 0 {
		r.Metadata = nil
	}
	if len(r.RuntimeEnv) == 0 {
		r.RuntimeEnv = nil
	}
	if len(r.EntrypointResources) == 0 {
		r.EntrypointResources = nil
	}
	return r
}

// checkSubmitLimits restates the documented limits (docs/compatibility.md).
func checkSubmitLimits(t *testing.T, r api.SubmitRequest) {
	t.Helper()
	if strings.TrimSpace(r.Entrypoint) == "" || len(r.Entrypoint) > api.MaxEntrypointBytes || strings.ContainsRune(r.Entrypoint, 0) {
		t.Fatalf("entrypoint of %d bytes accepted", len(r.Entrypoint))
	}
	if id := r.SubmissionID; id != "" {
		if len(id) > api.MaxSubmissionIDBytes || id == "." || id == ".." || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
			t.Fatalf("submission_id %q accepted", id)
		}
	}
	if r.JobID != "" && r.JobID != r.SubmissionID {
		t.Fatalf("job_id %q differs from submission_id %q", r.JobID, r.SubmissionID)
	}
	if len(r.Metadata) > api.MaxMetadataEntries {
		t.Fatalf("%d metadata entries accepted", len(r.Metadata))
	}
	total := 0
	for k, v := range r.Metadata {
		if len(k) > api.MaxMetadataKeyBytes || len(v) > api.MaxMetadataValueBytes {
			t.Fatalf("metadata %q of %d bytes accepted", k, len(v))
		}
		total += len(k) + len(v)
	}
	if total > api.MaxMetadataBytes {
		t.Fatalf("%d bytes of metadata accepted", total)
	}
	quantity := func(name string, v *float64) {
		if v != nil && (math.IsNaN(*v) || *v < 0 || *v > api.MaxResourceQuantity) {
			t.Fatalf("%s = %v accepted", name, *v)
		}
	}
	quantity("entrypoint_num_cpus", r.EntrypointNumCPUs)
	quantity("entrypoint_num_gpus", r.EntrypointNumGPUs)
	if m := r.EntrypointMemory; m != nil && (*m < 0 || *m > api.MaxEntrypointMemory) {
		t.Fatalf("entrypoint_memory = %d accepted", *m)
	}
	if len(r.EntrypointResources) > api.MaxEntrypointResources {
		t.Fatalf("%d entrypoint_resources accepted", len(r.EntrypointResources))
	}
	for k, v := range r.EntrypointResources {
		if k == "" || len(k) > api.MaxResourceNameBytes || strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("resource name %q accepted", k)
		}
		quantity("entrypoint_resources["+k+"]", &v)
	}
	checkRuntimeEnvLimits(t, r.RuntimeEnv)
}

func checkRuntimeEnvLimits(t *testing.T, env map[string]any) {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil || len(b) > api.MaxRuntimeEnvBytes {
		t.Fatalf("runtime_env of %d bytes accepted (%v)", len(b), err)
	}
	vars, err := api.EnvVars(env)
	if err != nil {
		t.Fatalf("accepted env_vars that EnvVars refuses: %v", err)
	}
	if len(vars) > api.MaxEnvVars {
		t.Fatalf("%d env_vars accepted", len(vars))
	}
	for k, v := range vars {
		if k == "" || len(k) > api.MaxEnvVarNameBytes || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			t.Fatalf("env var %q=%q accepted", k, v)
		}
	}
	if wd, ok := env["working_dir"]; ok && wd != nil {
		if _, isStr := wd.(string); !isStr {
			t.Fatalf("working_dir %T accepted", wd)
		}
	}
}

// FuzzLogsJSON checks the streaming encoder of GET /api/jobs/ID/logs
// against encoding/json: for any log and any way the file's reads split it
// (UTF-8 characters cut between reads included), the body is byte for byte
// what json.Encoder writes for {"logs": log}.
func FuzzLogsJSON(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), uint8(0))
	f.Add([]byte("€ split across reads \u2028\u2029 <&> \"q\" \\ \x00\x01\x1f\x7f"), uint8(1))
	f.Add([]byte("\xff\xfe\xe2\x82 \xf0\x9f\x98\x80 \xf0\x9f\x98 \xc3"), uint8(2))
	f.Add([]byte("\b\f\n\r\t"), uint8(6))
	f.Add(bytes.Repeat([]byte("é"), 1000), uint8(200))
	f.Fuzz(func(t *testing.T, log []byte, step uint8) {
		if len(log) > 8<<10 {
			return // large logs are TestLogsStreamWithBoundedMemory's; small ones minimize fast
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(api.LogsResponse{Logs: string(log)}); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := writeLogsJSON(&got, &pieceReader{b: log, step: int(step)}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("log %q in pieces of %d:\n got %q\nwant %q", log, step, got.Bytes(), want.Bytes())
		}
		if !utf8.Valid(got.Bytes()) {
			t.Fatal("the body is not UTF-8")
		}
	})
}

// pieceReader returns b in reads of varying sizes (1 to step+1 bytes).
type pieceReader struct {
	b    []byte
	step int
	n    int
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	r.n++
	k := min(len(r.b), len(p), 1+(r.n*7)%(r.step+1))
	copy(p, r.b[:k])
	r.b = r.b[k:]
	return k, nil
}
