package dashboard

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The log API's query parameters, Ray's names (GetLogOptions): a file is
// named by node_id (or node_ip) and filename, or found from actor_id,
// task_id (+attempt_number), submission_id or pid (with node_id); lines,
// media_type file|stream, interval and timeout.

// Bounds of one log answer.
const (
	// DefaultLogLines is Ray's DEFAULT_LOG_LIMIT.
	DefaultLogLines = 1000
	MaxLogLines     = 100_000
	// MaxLogBytes is the most one answer reads back from a file's end.
	MaxLogBytes = 32 << 20
	// DefaultFollow and MaxFollow bound how long a stream follows a file.
	DefaultFollow = 5 * time.Minute
	MaxFollow     = time.Hour
	// maxQueryValue bounds one parameter (ids and names are short).
	maxQueryValue = 512
)

// LogQuery is a parsed log request.
type LogQuery struct {
	NodeID, NodeIP string
	Filename       string
	ActorID        string
	TaskID         string
	Attempt        int
	SubmissionID   string
	PID            int
	// Lines is how many last lines (-1: the whole file, within MaxLogBytes).
	Lines int
	// Stream follows the file as it grows until Timeout.
	Stream   bool
	Interval time.Duration
	Timeout  time.Duration
	// Glob narrows a listing (filepath.Match on file names).
	Glob string
}

// ParseLogQuery reads a log request's parameters; stream says the path
// asked for a stream. It says what is wrong with a bad one.
func ParseLogQuery(q url.Values, stream bool) (LogQuery, error) {
	for k, v := range q {
		if len(v) > 1 {
			return LogQuery{}, fmt.Errorf("parameter %q given %d times; give it once", clipParam(k), len(v))
		}
		if len(v) == 1 && len(v[0]) > maxQueryValue {
			return LogQuery{}, fmt.Errorf("parameter %q of %d bytes; at most %d", clipParam(k), len(v[0]), maxQueryValue)
		}
	}
	lq := LogQuery{NodeID: q.Get("node_id"), NodeIP: q.Get("node_ip"), Filename: q.Get("filename"), ActorID: q.Get("actor_id"),
		TaskID: q.Get("task_id"), SubmissionID: q.Get("submission_id"), Lines: DefaultLogLines, Stream: stream,
		Interval: 250 * time.Millisecond, Timeout: DefaultFollow, Glob: q.Get("glob")}
	var err error
	num := func(name string, lo, hi int) (int, bool) {
		v := q.Get(name)
		if v == "" || err != nil {
			return 0, false
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < lo || n > hi {
			err = fmt.Errorf("%s must be an integer from %d to %d, not %q", name, lo, hi, v)
			return 0, false
		}
		return n, true
	}
	seconds := func(name string, lo, hi time.Duration) (time.Duration, bool) {
		v := q.Get(name)
		if v == "" || err != nil {
			return 0, false
		}
		f, perr := strconv.ParseFloat(v, 64)
		d := time.Duration(f * float64(time.Second))
		if perr != nil || f != f || d < lo || d > hi {
			err = fmt.Errorf("%s must be seconds from %g to %g, not %q", name, lo.Seconds(), hi.Seconds(), v)
			return 0, false
		}
		return d, true
	}
	if n, ok := num("lines", -1, MaxLogLines); ok {
		if n == 0 {
			n = DefaultLogLines
		}
		lq.Lines = n
	}
	if n, ok := num("attempt_number", 0, 1<<20); ok {
		lq.Attempt = n
	}
	if n, ok := num("pid", 1, 1<<22); ok {
		lq.PID = n
	}
	if d, ok := seconds("interval", 100*time.Millisecond, 10*time.Second); ok {
		lq.Interval = d
	}
	if d, ok := seconds("timeout", time.Second, MaxFollow); ok {
		lq.Timeout = d
	}
	switch mt := q.Get("media_type"); mt {
	case "", "file":
	case "stream":
		lq.Stream = true
	default:
		if err == nil {
			err = fmt.Errorf("media_type must be file or stream, not %q", mt)
		}
	}
	if err != nil {
		return LogQuery{}, err
	}
	if lq.Filename != "" {
		if err := checkLogName(lq.Filename); err != nil {
			return LogQuery{}, err
		}
	}
	return lq, nil
}

// CheckFile says what a file request lacks: exactly one way of naming a file.
func (lq LogQuery) CheckFile() error {
	ways := 0
	for _, set := range []bool{lq.Filename != "", lq.ActorID != "", lq.TaskID != "", lq.SubmissionID != "", lq.PID != 0} {
		if set {
			ways++
		}
	}
	switch {
	case ways == 0:
		return errors.New("name the log: filename (with node_id or node_ip), actor_id, task_id, submission_id, or pid (with node_id or node_ip)")
	case ways > 1:
		return errors.New("give only one of filename, actor_id, task_id, submission_id and pid")
	case (lq.Filename != "" || lq.PID != 0) && lq.NodeID == "" && lq.NodeIP == "":
		return errors.New("filename and pid need node_id or node_ip: the node whose log it is")
	}
	return nil
}

func clipParam(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}
