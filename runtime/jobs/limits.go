package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// logClip is how much of a user's string (an entrypoint, an id read back
// from an old record) a head log line shows.
const logClip = 200

// logID is a job id for a log line: as is when it is a valid submission id,
// else clipped and quoted (records stored before the limits may hold any
// string).
func logID(id string) string {
	if api.ValidSubmissionID(id) == nil {
		return id
	}
	return api.Clip(id, 64)
}

// reported remembers the unreadable records already logged, per store, so
// that every listing does not log them again.
var reported sync.Map // reportKey -> struct{}

type reportKey struct {
	gcs any
	id  string
}

// reportUnreadable logs, once, a record the listing skips.
func (m *Manager) reportUnreadable(id string, err error) {
	if _, seen := reported.LoadOrStore(reportKey{m.cfg.GCS, id}, struct{}{}); seen {
		return
	}
	m.log.Printf("job record %s is left out of GET /api/jobs/: %v", logID(id), err)
}

// deleteCorrupt removes a record that is not a job's JSON, with the job's files.
func (m *Manager) deleteCorrupt(ctx context.Context, id string) (bool, error) {
	if err := m.store.del(ctx, id); err != nil {
		return false, err
	}
	reported.Delete(reportKey{m.cfg.GCS, id})
	m.log.Printf("job record %s was corrupt and is deleted", logID(id))
	m.removeFiles(id)
	return true, nil
}

// removeFiles deletes a job's log and working dir. An id that is not a
// plain file name (a record from before the id rules) has none to delete:
// the paths made from it could name something else.
func (m *Manager) removeFiles(id string) {
	if id == "" || !filepath.IsLocal(id) || filepath.Base(id) != id {
		return
	}
	_ = os.Remove(m.LogPath(id))
	_ = os.RemoveAll(filepath.Join(m.cfg.Dir, "jobs", id))
}

// errBodyTooLarge is a POST body over api.MaxRequestBytes (413).
var errBodyTooLarge = fmt.Errorf("the request body is larger than the limit of %d bytes", api.MaxRequestBytes)

// readSubmit reads a POST /api/jobs/ body of at most api.MaxRequestBytes
// (the caller wraps it in http.MaxBytesReader) and parses it.
func readSubmit(body io.Reader) (api.SubmitRequest, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return api.SubmitRequest{}, errBodyTooLarge
		}
		return api.SubmitRequest{}, &BadRequestError{fmt.Errorf("failed to read the request: %w", err)}
	}
	return parseSubmit(b)
}

// parseSubmit decodes a JobSubmitRequest (one JSON object; unknown fields
// are ignored, as Ray's server does) and validates it against the
// submission limits. Its errors are *BadRequestError; the result depends
// only on b.
func parseSubmit(b []byte) (api.SubmitRequest, error) {
	if len(b) > api.MaxRequestBytes {
		return api.SubmitRequest{}, errBodyTooLarge
	}
	var req api.SubmitRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&req); err != nil {
		return api.SubmitRequest{}, &BadRequestError{fmt.Errorf("Invalid JobSubmitRequest: %w", err)} //nolint:staticcheck // Ray's words, which clients match
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		return api.SubmitRequest{}, &BadRequestError{errors.New("Invalid JobSubmitRequest: trailing data after the JSON object")} //nolint:staticcheck // Ray's words
	}
	if err := req.Normalize(); err != nil {
		return req, &BadRequestError{err}
	}
	return req, nil
}

// newRecord is the PENDING record of a validated request, and the
// resources its entrypoint reserves.
func newRecord(req api.SubmitRequest, id string, now int64) (*record, map[string]float64) {
	res := api.Resources(req.EntrypointNumCPUs, req.EntrypointNumGPUs, req.EntrypointMemory, req.EntrypointResources)
	msg := api.PendingMessage(len(res) > 0, len(req.RuntimeEnv) > 0)
	meta := req.Metadata
	if meta == nil {
		meta = map[string]string{}
	}
	return &record{JobDetails: api.JobDetails{
		Type: api.JobTypeSubmission, SubmissionID: &id, Status: api.StatusPending, Entrypoint: req.Entrypoint,
		Message: &msg, StartTime: &now, Metadata: meta, RuntimeEnv: req.RuntimeEnv,
		EntrypointNumCPUs: req.EntrypointNumCPUs, EntrypointNumGPUs: req.EntrypointNumGPUs,
		EntrypointMemory: req.EntrypointMemory, EntrypointResources: req.EntrypointResources,
	}}, res
}
