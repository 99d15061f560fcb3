package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A node's log files, as its agent serves them: only files found by the
// node's own patterns, by their base name. A request names a file by that
// name and is answered only if the listing holds it, so no name (with
// "..", a slash, a link) reaches anything else.

// Where goray writes logs (runtime/node/lease.go, runtime/jobs/manager.go,
// cmd/goray/start.go): a worker's stdout and stderr go to
// <session>/logs/worker-<worker id>.log, a submitted job's entrypoint to
// <temp dir>/logs/job-driver-<submission id>.log on the head, and a node
// started in the background (goray start without --block) writes its own
// log to <temp dir>/logs/goray-start-<n>.log; with --block (a pod) the
// node copies it to <session>/logs/goray-node.log (cmd/goray/nodelog.go).

// WorkerLogName is the log file of a worker process.
func WorkerLogName(workerID string) string { return "worker-" + workerID + ".log" }

// DriverLogName is the log file of a submitted job's entrypoint (Ray's name).
func DriverLogName(submissionID string) string { return "job-driver-" + submissionID + ".log" }

// LogFiles says which files are a node's logs.
type LogFiles struct {
	// Globs match log files (filepath.Match patterns).
	Globs []string
	// Files are single log files (the node's own log).
	Files []string
}

// NodeLogFiles are the logs of a node whose session directory is session
// and whose temp dir root is root; the head also serves the job drivers'.
// The node's own log is its standard error when that is a file.
func NodeLogFiles(root, session string, head bool) LogFiles {
	lf := LogFiles{Globs: []string{filepath.Join(session, "logs", "*.log")}}
	if head {
		lf.Globs = append(lf.Globs, filepath.Join(root, "logs", DriverLogName("*")))
	}
	if p, err := os.Readlink("/proc/self/fd/2"); err == nil && filepath.IsAbs(p) {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			lf.Files = append(lf.Files, p)
		}
	}
	return lf
}

// LogFile is one listed file.
type LogFile struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ms"`
	path    string
}

// maxLogFiles bounds a listing (a node that ran very many workers).
const maxLogFiles = 10_000

// List returns the log files, by name; a name found twice keeps its first
// path. Links and anything but regular files are left out.
func (l LogFiles) List() []LogFile {
	seen := map[string]bool{}
	var out []LogFile
	add := func(p string) {
		name := filepath.Base(p)
		if seen[name] || len(out) >= maxLogFiles {
			return
		}
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() {
			return
		}
		seen[name] = true
		out = append(out, LogFile{Name: name, Size: st.Size(), ModTime: st.ModTime().UnixMilli(), path: p})
	}
	for _, f := range l.Files {
		add(f)
	}
	for _, g := range l.Globs {
		matches, _ := filepath.Glob(g)
		for _, m := range matches {
			add(m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// errNoLogFile is a name the node does not list.
var errNoLogFile = errors.New("no such log file")

// Open opens the listed file called name.
func (l LogFiles) Open(name string) (*os.File, error) {
	if err := checkLogName(name); err != nil {
		return nil, err
	}
	for _, f := range l.List() {
		if f.Name == name {
			return os.Open(f.path)
		}
	}
	return nil, fmt.Errorf("%w %q on this node", errNoLogFile, name)
}

// checkLogName refuses what cannot be a listed base name, with a reason.
func checkLogName(name string) error {
	switch {
	case name == "":
		return errors.New("filename is empty")
	case len(name) > 255:
		return fmt.Errorf("filename of %d bytes; at most 255", len(name))
	case name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("filename %q is not a file name: give a name from the node's list of logs, not a path", name)
	}
	return nil
}

// LogCategory is Ray's category of a log file in a listing.
func LogCategory(name string) string {
	switch {
	case strings.HasPrefix(name, "worker-"):
		return "worker_out"
	case strings.HasPrefix(name, "job-driver-"):
		return "driver"
	case strings.HasPrefix(name, "goray-"):
		return "raylet" // the node's own log: goray-node.log, goray-start-<n>.log
	}
	return "misc"
}

// tailStart is where the last lines lines of a file of size bytes start,
// reading backwards at most maxBytes (fewer lines were found: the answer
// starts maxBytes before the end). lines <= 0 means from the start, within
// maxBytes.
func tailStart(r io.ReaderAt, size int64, lines int, maxBytes int64) (int64, error) {
	floor := max(0, size-maxBytes)
	if lines <= 0 {
		return floor, nil
	}
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	end := size
	// A last line without its newline counts as a line.
	if size > 0 {
		if _, err := r.ReadAt(buf[:1], size-1); err != nil {
			return 0, err
		}
		if buf[0] == '\n' {
			end = size - 1
		}
	}
	pos, found := end, 0
	for pos > floor {
		n := min(int64(chunk), pos-floor)
		if _, err := r.ReadAt(buf[:n], pos-n); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		b := buf[:n]
		for {
			i := bytes.LastIndexByte(b, '\n')
			if i < 0 {
				break
			}
			found++
			if found == lines {
				return pos - n + int64(i) + 1, nil
			}
			b = b[:i]
		}
		pos -= n
	}
	return floor, nil
}
