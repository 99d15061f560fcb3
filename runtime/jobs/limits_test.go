package jobs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// Every refused submission is a 400 whose message names the field and its
// limit; the head keeps answering and the jobs submitted before are intact.
func TestSubmitRefusesFieldsOverTheirLimits(t *testing.T) {
	e := newTestEnv(t)
	control := e.submit(t, api.SubmitRequest{Entrypoint: "echo control", SubmissionID: "control-job", Metadata: map[string]string{"k": "v"}})
	e.waitTerminal(t, control)

	manyMeta := map[string]string{}
	for i := range 200 {
		manyMeta[fmt.Sprintf("k%d", i)] = "v"
	}
	manyRes := map[string]float64{}
	for i := range 100 {
		manyRes[fmt.Sprintf("r%d", i)] = 1
	}
	manyEnv := map[string]any{}
	for i := range 2000 {
		manyEnv[fmt.Sprintf("V%d", i)] = "x"
	}
	f := func(v float64) *float64 { return &v }
	i64 := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name  string
		req   api.SubmitRequest
		wants []string // each must appear in the 400's message
	}{
		{"5 MB metadata value", api.SubmitRequest{Entrypoint: "true", Metadata: map[string]string{"big": strings.Repeat("m", 5<<20)}},
			[]string{"request body", "2097152"}},
		{"1 MB metadata value", api.SubmitRequest{Entrypoint: "true", Metadata: map[string]string{"big": strings.Repeat("m", 1<<20)}},
			[]string{"metadata", "16384"}},
		{"too many metadata entries", api.SubmitRequest{Entrypoint: "true", Metadata: manyMeta}, []string{"metadata", "128"}},
		{"long metadata key", api.SubmitRequest{Entrypoint: "true", Metadata: map[string]string{strings.Repeat("k", 300): "v"}},
			[]string{"metadata", "256"}},
		{"3 MB entrypoint", api.SubmitRequest{Entrypoint: "true #" + strings.Repeat("e", 3<<20)}, []string{"request body", "2097152"}},
		{"100 KiB entrypoint", api.SubmitRequest{Entrypoint: "true #" + strings.Repeat("e", 100<<10)}, []string{"entrypoint", "65536"}},
		{"NUL in entrypoint", api.SubmitRequest{Entrypoint: "echo a\x00b"}, []string{"entrypoint", "NUL"}},
		{"300-character submission_id", api.SubmitRequest{Entrypoint: "true", SubmissionID: strings.Repeat("s", 300)},
			[]string{"submission_id", "128"}},
		{"newline in submission_id", api.SubmitRequest{Entrypoint: "true", SubmissionID: "a\nb"}, []string{"submission_id", "A-Za-z0-9._-"}},
		{"space in submission_id", api.SubmitRequest{Entrypoint: "true", SubmissionID: "a b"}, []string{"submission_id"}},
		{"submission_id ..", api.SubmitRequest{Entrypoint: "true", SubmissionID: ".."}, []string{"submission_id"}},
		{"long job_id", api.SubmitRequest{Entrypoint: "true", JobID: strings.Repeat("j", 129)}, []string{"submission_id", "128"}},
		{"env_vars key A=B", api.SubmitRequest{Entrypoint: "true", RuntimeEnv: map[string]any{"env_vars": map[string]any{"A=B": "x"}}},
			[]string{"env_vars", "'='"}},
		{"empty env_vars key", api.SubmitRequest{Entrypoint: "true", RuntimeEnv: map[string]any{"env_vars": map[string]any{"": "x"}}},
			[]string{"env_vars", "empty"}},
		{"NUL in env_vars value", api.SubmitRequest{Entrypoint: "true", RuntimeEnv: map[string]any{"env_vars": map[string]any{"A": "x\x00y"}}},
			[]string{"env_vars", "NUL"}},
		{"too many env_vars", api.SubmitRequest{Entrypoint: "true", RuntimeEnv: map[string]any{"env_vars": manyEnv}}, []string{"env_vars", "1024"}},
		{"300 KiB runtime_env", api.SubmitRequest{Entrypoint: "true", RuntimeEnv: map[string]any{"pip": []any{strings.Repeat("p", 300<<10)}}},
			[]string{"runtime_env", "262144"}},
		{"entrypoint_num_cpus 1e308", api.SubmitRequest{Entrypoint: "true", EntrypointNumCPUs: f(1e308)}, []string{"entrypoint_num_cpus", "1e+06"}},
		{"entrypoint_num_gpus 2e6", api.SubmitRequest{Entrypoint: "true", EntrypointNumGPUs: f(2e6)}, []string{"entrypoint_num_gpus", "1e+06"}},
		{"entrypoint_memory 2^60", api.SubmitRequest{Entrypoint: "true", EntrypointMemory: i64(1 << 60)}, []string{"entrypoint_memory", "1125899906842624"}},
		{"entrypoint_resources 1e308", api.SubmitRequest{Entrypoint: "true", EntrypointResources: map[string]float64{"TPU": 1e308}},
			[]string{"entrypoint_resources", "1e+06"}},
		{"empty resource name", api.SubmitRequest{Entrypoint: "true", EntrypointResources: map[string]float64{"": 1}},
			[]string{"entrypoint_resources", "empty"}},
		{"too many entrypoint_resources", api.SubmitRequest{Entrypoint: "true", EntrypointResources: manyRes},
			[]string{"entrypoint_resources", "64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			want := http.StatusBadRequest
			if strings.Contains(tc.wants[0], "request body") { // larger than the whole body may be
				want = http.StatusRequestEntityTooLarge
			}
			code, body := e.do(t, http.MethodPost, "/api/jobs/", string(b))
			if code != want {
				t.Fatalf("%d %s, want %d", code, clipForTest(body), want)
			}
			for _, w := range tc.wants {
				if !strings.Contains(body, w) {
					t.Errorf("message %q does not name %q", clipForTest(body), w)
				}
			}
			if len(body) > 4096 {
				t.Errorf("the 400 echoes %d bytes of the request", len(body))
			}
		})
	}
	jobs := e.list(t)
	if len(jobs) != 1 || jobs[control].Metadata["k"] != "v" || jobs[control].Status != api.StatusSucceeded {
		t.Errorf("after the refusals the listing is %v, want just the intact control job", jobs)
	}
}

// A body over the request limit is 413, not a 400 about a truncated JSON.
func TestSubmitBodyOverLimitIs413(t *testing.T) {
	e := newTestEnv(t)
	body := io.MultiReader(strings.NewReader(`{"entrypoint":"true","metadata":{"a":"`),
		io.LimitReader(repeatReader('x'), 50<<20), strings.NewReader(`"}}`))
	req := httptest.NewRequest(http.MethodPost, "/api/jobs/", body)
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "2097152") {
		t.Errorf("50 MB body: %d %q, want 413 naming the 2097152-byte limit", rec.Code, clipForTest(rec.Body.String()))
	}
	if jobs := e.list(t); len(jobs) != 0 {
		t.Errorf("listing after a 413: %v", jobs)
	}
}

type repeatReader byte

func (r repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// The head's log gets a clipped, quoted entrypoint, never the user's whole string.
func TestSubmitLogsClippedEntrypoint(t *testing.T) {
	e := newTestEnv(t)
	entry := "true # " + strings.Repeat("z", 60<<10) + "\nsecond-line"
	id := e.submit(t, api.SubmitRequest{Entrypoint: entry})
	e.waitTerminal(t, id)
	out := e.log.String()
	if !strings.Contains(out, id) {
		t.Fatalf("the head log does not mention %s:\n%s", id, clipForTest(out))
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 1024 {
			t.Errorf("a head log line is %d bytes: %s", len(line), clipForTest(line))
		}
		if strings.HasPrefix(line, "second-line") {
			t.Errorf("the entrypoint's newline reached the head log as a line of its own")
		}
	}
}

// A record stored before the limits (5 MB of metadata) or a corrupt one
// does not break the listing: the large one is read (the dashboard's GCS
// client is not capped at gRPC's 4 MiB default for job records), the
// corrupt one is skipped from the list, reported on GET, and removable.
func TestListingSurvivesLargeAndCorruptRecords(t *testing.T) {
	e := newTestEnv(t)
	control := e.submit(t, api.SubmitRequest{Entrypoint: "true", SubmissionID: "control-job"})
	e.waitTerminal(t, control)
	e.plantJob(t, "legacy-big", map[string]string{"big": strings.Repeat("m", 5<<20)})
	e.plant(t, "corrupt", []byte("{not json"))

	jobs := e.list(t)
	if _, ok := jobs[control]; !ok || len(jobs["legacy-big"].Metadata["big"]) != 5<<20 {
		t.Errorf("listing lacks the control job or the large record: %d jobs", len(jobs))
	}
	if _, ok := jobs["corrupt"]; ok {
		t.Error("the corrupt record is listed")
	}
	if code, body := e.do(t, http.MethodGet, "/api/jobs/legacy-big", ""); code != http.StatusOK {
		t.Errorf("GET legacy-big: %d %s", code, clipForTest(body))
	}
	if code, body := e.do(t, http.MethodGet, "/api/jobs/corrupt", ""); code != http.StatusInternalServerError || !strings.Contains(body, "corrupt") {
		t.Errorf("GET corrupt: %d %s, want 500 saying it is corrupt", code, clipForTest(body))
	}
	if !strings.Contains(e.log.String(), "corrupt") {
		t.Error("the skipped record is not reported in the head log")
	}
	for _, id := range []string{"legacy-big", "corrupt"} {
		code, body := e.do(t, http.MethodDelete, "/api/jobs/"+id, "")
		if code != http.StatusOK || !strings.Contains(body, `"deleted":true`) {
			t.Errorf("DELETE %s: %d %s", id, code, clipForTest(body))
		}
	}
	jobs = e.list(t)
	if len(jobs) != 1 || jobs[control].Status != api.StatusSucceeded {
		t.Errorf("after the deletes: %v", jobs)
	}
}

// discardWriter is a ResponseWriter that keeps only what a test checks.
type discardWriter struct {
	h    http.Header
	code int
	n    int64
	head []byte // the first bytes
	tail []byte // the last bytes
}

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if len(w.head) < 64 {
		w.head = append(w.head, p[:min(len(p), 64-len(w.head))]...)
	}
	w.tail = append(w.tail, p[max(0, len(p)-64):]...)
	if len(w.tail) > 64 {
		w.tail = w.tail[len(w.tail)-64:]
	}
	w.n += int64(len(p))
	return len(p), nil
}

// GET /api/jobs/ID/logs streams the file: a 50 MB log costs the handler a
// small, fixed amount of memory, and the body is Ray's {"logs": "..."}.
func TestLogsStreamWithBoundedMemory(t *testing.T) {
	e := newTestEnv(t)
	e.plantJob(t, "big-log", nil)
	line := "line <&> \t é \u2028 \x01 \"quoted\" \\ \xff\n"
	n := (50 << 20) / len(line)
	var content bytes.Buffer
	content.Grow(n * len(line))
	for range n {
		content.WriteString(line)
	}
	if err := writeFile(e.m.LogPath("big-log"), content.Bytes()); err != nil {
		t.Fatal(err)
	}
	enc, _ := json.Marshal(line)
	wantLen := int64(len(`{"logs":`)) + int64(n)*int64(len(enc)-2) + 2 + int64(len("}\n"))
	content = bytes.Buffer{}

	w := &discardWriter{}
	req := httptest.NewRequest(http.MethodGet, "/api/jobs/big-log/logs", nil)
	alloc := measureAlloc(func() { e.mux.ServeHTTP(w, req) })
	if w.code != http.StatusOK || !bytes.HasPrefix(w.head, []byte(`{"logs":"line \u003c\u0026\u003e \t`)) ||
		!bytes.HasSuffix(w.tail, []byte(`\ufffd\n"}`+"\n")) || w.n != wantLen {
		t.Errorf("body: %d, %d bytes (want %d), starts %q ends %q", w.code, w.n, wantLen, w.head, w.tail)
	}
	if alloc > 8<<20 {
		t.Errorf("serving a 50 MB log allocated %d MB, want under 8 MB", alloc>>20)
	}
}

// GET /api/jobs/ID/logs/tail streams a finished job's log the same way.
func TestFollowStreamsWithBoundedMemory(t *testing.T) {
	e := newTestEnv(t)
	e.plantJob(t, "big-tail", nil)
	chunk := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n"), 1<<14) // 1 MiB
	var all []byte
	for range 50 {
		all = append(all, chunk...)
	}
	all = append(all, "no newline at the end"...)
	if err := writeFile(e.m.LogPath("big-tail"), all); err != nil {
		t.Fatal(err)
	}
	want := int64(len(all))
	var got int64
	var last []byte
	alloc := measureAlloc(func() {
		err := e.m.Follow(t.Context(), "big-tail", func(b []byte) error {
			got += int64(len(b))
			last = append(last[:0], b[max(0, len(b)-21):]...)
			return nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	if got != want || string(last) != "no newline at the end" {
		t.Errorf("followed %d bytes ending %q, want %d", got, last, want)
	}
	if alloc > 8<<20 {
		t.Errorf("following a 50 MB log allocated %d MB, want under 8 MB", alloc>>20)
	}
}

// A line longer than the tail's chunk goes in pieces cut between
// characters: each is UTF-8 (a WebSocket text frame must be).
func TestFollowCutsLongLinesBetweenCharacters(t *testing.T) {
	e := newTestEnv(t)
	e.plantJob(t, "long-line", nil)
	content := "x" + strings.Repeat("é€😀", 30000) + "\nend"
	if err := writeFile(e.m.LogPath("long-line"), []byte(content)); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	pieces := 0
	err := e.m.Follow(t.Context(), "long-line", func(b []byte) error {
		pieces++
		if !utf8.Valid(b) {
			t.Errorf("piece %d (%d bytes) is not UTF-8: ends %q", pieces, len(b), b[max(0, len(b)-4):])
		}
		got.Write(b)
		return nil
	})
	if err != nil || got.String() != content || pieces < 3 {
		t.Errorf("followed %d bytes in %d pieces (%v), want the %d-byte log in several", got.Len(), pieces, err, len(content))
	}
}

// The largest valid request, every field at its limit and made of
// characters JSON escapes sixfold, fits the body limit, and its record (with
// the largest failure message) fits the record limit, far below gRPC's
// default 4 MiB message.
func TestLargestValidRequestFits(t *testing.T) {
	req := api.SubmitRequest{
		Entrypoint:          "true #" + strings.Repeat("\x01", api.MaxEntrypointBytes-6),
		SubmissionID:        strings.Repeat("s", api.MaxSubmissionIDBytes),
		Metadata:            map[string]string{},
		EntrypointResources: map[string]float64{},
	}
	for i := range 4 {
		key := fmt.Sprintf("%s%d", strings.Repeat("<", api.MaxMetadataKeyBytes-1), i)
		req.Metadata[key] = strings.Repeat("\x01", api.MaxMetadataBytes/4-len(key))
	}
	for i := range api.MaxEntrypointResources {
		req.EntrypointResources[fmt.Sprintf("%s%02d", strings.Repeat("<", api.MaxResourceNameBytes-2), i)] = api.MaxResourceQuantity
	}
	req.RuntimeEnv = map[string]any{"env_vars": map[string]any{"A": strings.Repeat("\x01", (api.MaxRuntimeEnvBytes-40)/6)}}
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSubmit(body)
	if err != nil {
		t.Fatalf("the largest valid request (%d bytes) is refused: %v", len(body), err)
	}
	rec, _ := newRecord(got, got.SubmissionID, 1)
	worst := "Job entrypoint command failed with exit code 1, last available logs (truncated to 20,000 chars):\n" + strings.Repeat("\x01", failLogChars)
	rec.Message = &worst
	b, err := marshalRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("largest valid request %d bytes (limit %d), its record %d bytes (limit %d)", len(body), api.MaxRequestBytes, len(b), maxRecordBytes)
}

// A 404 quotes an unknown id clipped, not the whole URL segment.
func TestNotFoundClipsTheID(t *testing.T) {
	e := newTestEnv(t)
	long := strings.Repeat("q", 5000)
	code, body := e.do(t, http.MethodGet, "/api/jobs/"+long, "")
	if code != http.StatusNotFound || len(body) > 300 || !strings.Contains(body, "5000 bytes") {
		t.Errorf("GET of a 5000-byte id: %d %.300q", code, body)
	}
	if code, body := e.do(t, http.MethodGet, "/api/jobs/no-such-job", ""); code != http.StatusNotFound || body != "Job no-such-job does not exist" {
		t.Errorf("GET of an unknown id: %d %q", code, body)
	}
}
