package dashboard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// The node agent's side of the log API (:52365, behind the cluster's token
// like every agent path but the health probe): the head's /api/v0/logs
// endpoints call these on the node that holds the file.
const (
	// AgentLogsPath lists the node's log files: {"files": [{name, size, mtime_ms}]}.
	AgentLogsPath = "/api/v0/agent/logs"
	// AgentLogFilePath answers a file's last lines (filename, lines) as
	// text, and with media_type=stream follows it (interval, timeout).
	AgentLogFilePath = "/api/v0/agent/logs/file"
)

// MountLogAgent adds the agent's log endpoints for files to mux.
func MountLogAgent(mux *http.ServeMux, files LogFiles) {
	mux.HandleFunc("GET "+AgentLogsPath, func(w http.ResponseWriter, r *http.Request) {
		list := files.List()
		if list == nil {
			list = []LogFile{}
		}
		writeJSON(w, map[string]any{"files": list})
	})
	mux.HandleFunc("GET "+AgentLogFilePath, func(w http.ResponseWriter, r *http.Request) {
		lq, err := ParseLogQuery(r.URL.Query(), false)
		if err == nil && lq.Filename == "" {
			err = errors.New("filename is required")
		}
		if err != nil {
			rayResponse(w, http.StatusBadRequest, false, err.Error(), nil)
			return
		}
		f, err := files.Open(lq.Filename)
		if err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, errNoLogFile) || errors.Is(err, os.ErrNotExist) {
				code = http.StatusNotFound
			} else if checkLogName(lq.Filename) != nil {
				code = http.StatusBadRequest
			}
			rayResponse(w, code, false, err.Error(), nil)
			return
		}
		defer f.Close()
		serveLog(r.Context(), w, f, lq)
	})
}

// serveLog writes the file's last lines, then (streaming) what is appended
// until the timeout or the client leaves. A file that shrinks (truncated,
// rotated in place) is followed from its new start.
func serveLog(ctx context.Context, w http.ResponseWriter, f *os.File, lq LogQuery) {
	st, err := f.Stat()
	if err != nil {
		rayResponse(w, http.StatusInternalServerError, false, err.Error(), nil)
		return
	}
	size := st.Size()
	lines := lq.Lines
	if lines < 0 {
		lines = 0 // the whole file, within MaxLogBytes
	}
	start, err := tailStart(f, size, lines, MaxLogBytes)
	if err != nil {
		rayResponse(w, http.StatusInternalServerError, false, err.Error(), nil)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, err := io.Copy(w, io.NewSectionReader(f, start, size-start)); err != nil || !lq.Stream {
		return
	}
	flush := func() {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
	}
	flush()
	ctx, cancel := context.WithTimeout(ctx, lq.Timeout)
	defer cancel()
	t := time.NewTicker(lq.Interval)
	defer t.Stop()
	pos := size
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := f.Stat()
		if err != nil {
			return
		}
		if st.Size() < pos {
			pos = 0
		}
		for pos < st.Size() {
			n, err := io.Copy(w, io.NewSectionReader(f, pos, min(st.Size()-pos, 1<<20)))
			pos += n
			if err != nil {
				return
			}
			flush()
		}
	}
}
