package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// Register mounts the Jobs REST API and the package endpoints on mux (the
// head dashboard's Server.Mux). Errors are text/plain with Ray's codes:
// 400 for a bad request, 404 "Job X does not exist", 500 otherwise.
func (m *Manager) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/jobs/{$}", m.handleSubmit)
	mux.HandleFunc("POST /api/jobs", m.handleSubmit)
	mux.HandleFunc("GET /api/jobs/{$}", m.handleList)
	mux.HandleFunc("GET /api/jobs", m.handleList)
	mux.HandleFunc("GET /api/jobs/{id}", m.handleGet)
	mux.HandleFunc("DELETE /api/jobs/{id}", m.handleDelete)
	mux.HandleFunc("POST /api/jobs/{id}/stop", m.handleStop)
	mux.HandleFunc("GET /api/jobs/{id}/logs", m.handleLogs)
	mux.HandleFunc("GET /api/jobs/{id}/logs/tail", m.handleTail)
	mux.HandleFunc("GET /api/packages/{protocol}/{name}", m.handleHasPackage)
	mux.HandleFunc("PUT /api/packages/{protocol}/{name}", m.handlePutPackage)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// writeErr answers an error from the Manager with Ray's status code.
func writeErr(w http.ResponseWriter, id string, err error) {
	var bad *BadRequestError
	switch {
	case errors.Is(err, ErrNotFound):
		writeText(w, http.StatusNotFound, fmt.Sprintf("Job %s does not exist", logID(id)))
	case errors.Is(err, ErrDuplicate):
		// Ray's head answers a taken submission_id with 500 (the agent's
		// ValueError reaches it as a failed request), and KubeRay's dashboard
		// client and submitter recognise exactly that answer, with these
		// words, as "already submitted: follow it".
		writeText(w, http.StatusInternalServerError, fmt.Sprintf("Job with submission_id %s already exists. %s.", id, api.MsgDuplicateHint))
	case errors.Is(err, ErrNotTerminal):
		writeText(w, http.StatusBadRequest, err.Error())
	case errors.As(err, &bad):
		writeText(w, http.StatusBadRequest, bad.Error())
	default:
		writeText(w, http.StatusInternalServerError, err.Error())
	}
}

func (m *Manager) handleSubmit(w http.ResponseWriter, r *http.Request) {
	req, err := readSubmit(http.MaxBytesReader(w, r.Body, api.MaxRequestBytes))
	if errors.Is(err, errBodyTooLarge) {
		writeText(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	if err != nil {
		writeErr(w, "", err)
		return
	}
	id, err := m.Submit(r.Context(), req)
	if err != nil {
		writeErr(w, req.SubmissionID, err)
		return
	}
	writeJSON(w, api.SubmitResponse{JobID: id, SubmissionID: id})
}

func (m *Manager) handleList(w http.ResponseWriter, r *http.Request) {
	jobs, err := m.List(r.Context())
	if err != nil {
		writeErr(w, "", err)
		return
	}
	writeJSON(w, jobs)
}

func (m *Manager) handleGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	d, err := m.Get(r.Context(), id)
	if err != nil {
		writeErr(w, id, err)
		return
	}
	writeJSON(w, d)
}

func (m *Manager) handleStop(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ok, err := m.Stop(r.Context(), id)
	if err != nil {
		writeErr(w, id, err)
		return
	}
	writeJSON(w, api.StopResponse{Stopped: ok})
}

func (m *Manager) handleDelete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ok, err := m.Delete(r.Context(), id)
	if err != nil {
		writeErr(w, id, err)
		return
	}
	writeJSON(w, api.DeleteResponse{Deleted: ok})
}

// handleLogs answers Ray's {"logs": "..."} by streaming the log file into
// the JSON string, so a request costs a fixed amount of memory whatever the
// log's size. The log is sent up to the size it had when the request came.
func (m *Manager) handleLogs(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f, size, err := m.openLog(r.Context(), id)
	if err != nil {
		writeErr(w, id, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if f == nil {
		writeJSON(w, api.LogsResponse{})
		return
	}
	defer f.Close()
	_ = writeLogsJSON(w, io.LimitReader(f, size))
}

// handleTail streams a job's log until the job ends: as WebSocket text
// frames when the client asks for an upgrade (as Ray's SDK does), otherwise
// as a chunked text/plain response.
func (m *Manager) handleTail(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := m.Get(r.Context(), id); err != nil {
		writeErr(w, id, err)
		return
	}
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		m.tailWebSocket(w, r, id)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	_ = m.Follow(r.Context(), id, func(b []byte) error {
		if _, err := w.Write(b); err != nil {
			return err
		}
		return rc.Flush()
	})
}

func (m *Manager) tailWebSocket(w http.ResponseWriter, r *http.Request, id string) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	ctx := c.CloseRead(r.Context())
	err = m.Follow(ctx, id, func(b []byte) error {
		return c.Write(ctx, websocket.MessageText, b)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		_ = c.Close(websocket.StatusInternalError, "log stream failed")
		return
	}
	_ = c.Close(websocket.StatusNormalClosure, "")
}

func (m *Manager) handleHasPackage(w http.ResponseWriter, r *http.Request) {
	protocol, name := r.PathValue("protocol"), r.PathValue("name")
	hash, err := packageHash(protocol, name)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	ok, err := m.hasPackage(r.Context(), hash)
	if err != nil {
		writeText(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !ok {
		writeText(w, http.StatusNotFound, fmt.Sprintf("Package %s://%s does not exist", protocol, name))
		return
	}
	writeText(w, http.StatusOK, "")
}

// handlePutPackage takes a package as it arrives: at most MaxPackageSize
// bytes (413 beyond, also when Content-Length says so up front), written
// to disk and into the GCS in chunks.
func (m *Manager) handlePutPackage(w http.ResponseWriter, r *http.Request) {
	protocol, name := r.PathValue("protocol"), r.PathValue("name")
	hash, err := packageHash(protocol, name)
	if err != nil {
		writeText(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.ContentLength > MaxPackageSize {
		writeText(w, http.StatusRequestEntityTooLarge, errPackageTooLarge.Error())
		return
	}
	err = m.receivePackage(r.Context(), hash, r.Body)
	if errors.Is(err, errPackageTooLarge) {
		writeText(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	if err != nil {
		writeErr(w, "", err)
		return
	}
	writeText(w, http.StatusOK, fmt.Sprintf("Successfully uploaded %s://%s", protocol, name))
}
