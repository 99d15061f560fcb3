package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/auth"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Ray's log API on the head: the paths and parameters of Ray's state API
// (/api/v0/logs lists a node's files by category, /api/v0/logs/file and
// /api/v0/logs/stream answer a file's text). The head finds the node and
// file — from an actor's or a task's worker, a submission's driver, a
// worker's pid — and relays the node agent's answer, calling it with the
// head's own credentials. Unlike Ray, the text is sent as it is, without a
// leading status byte per chunk: a failure before the text is an HTTP
// error in Ray's JSON envelope.
const (
	LogsPath       = "/api/v0/logs"
	LogFilePath    = "/api/v0/logs/file"
	LogStreamPath  = "/api/v0/logs/stream"
	logCallTimeout = 30 * time.Second
)

// logProxy is how the head reaches node agents: every node's agent listens
// on the head's agent port (the same port on every pod, as KubeRay sets it).
type logProxy struct {
	gcs    rpcpb.GcsClient
	port   int
	scheme string
	client *http.Client
}

// MountLogs adds the log API; agentPort is the nodes' agent port and sec
// the head's credentials for calling them.
func (s *Server) MountLogs(agentPort int, sec auth.Config) {
	p := &logProxy{gcs: s.gcs, port: agentPort, scheme: "http", client: &http.Client{Transport: sec.Transport(nil)}}
	if sec.TLS != nil {
		p.scheme = "https"
	}
	s.Mux.HandleFunc("GET "+LogsPath, p.list)
	s.Mux.HandleFunc("GET "+LogFilePath, func(w http.ResponseWriter, r *http.Request) { p.file(w, r, false) })
	s.Mux.HandleFunc("GET "+LogStreamPath, func(w http.ResponseWriter, r *http.Request) { p.file(w, r, true) })
}

// logError is a refusal with its HTTP status.
type logError struct {
	code int
	msg  string
}

func (e *logError) Error() string { return e.msg }

func logErrorf(code int, format string, args ...any) error {
	return &logError{code, fmt.Sprintf(format, args...)}
}

func writeLogError(w http.ResponseWriter, err error) {
	var le *logError
	if errors.As(err, &le) {
		rayResponse(w, le.code, false, le.msg, nil)
		return
	}
	stateError(w, err)
}

// list answers Ray's list_logs: {"result": {category: [file names]}}.
func (p *logProxy) list(w http.ResponseWriter, r *http.Request) {
	lq, err := ParseLogQuery(r.URL.Query(), false)
	if err == nil && lq.NodeID == "" && lq.NodeIP == "" {
		err = errors.New("node_id or node_ip is required: the node whose logs to list")
	}
	if err == nil && lq.Glob != "" {
		if _, gerr := filepath.Match(lq.Glob, ""); gerr != nil {
			err = fmt.Errorf("glob %q: %w", lq.Glob, gerr)
		}
	}
	if err != nil {
		rayResponse(w, http.StatusBadRequest, false, err.Error(), nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), logCallTimeout)
	defer cancel()
	n, err := p.node(ctx, lq.NodeID, lq.NodeIP)
	if err != nil {
		writeLogError(w, err)
		return
	}
	resp, err := p.call(ctx, n, AgentLogsPath, nil)
	if err != nil {
		writeLogError(w, err)
		return
	}
	defer resp.Body.Close()
	var listing struct {
		Files []LogFile `json:"files"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&listing); err != nil {
		writeLogError(w, logErrorf(http.StatusBadGateway, "node %s's agent answered a bad listing: %v", n.NodeId, err))
		return
	}
	out := map[string][]string{}
	for _, f := range listing.Files {
		if ok, _ := filepath.Match(lq.Glob, f.Name); lq.Glob != "" && !ok {
			continue
		}
		c := LogCategory(f.Name)
		out[c] = append(out[c], f.Name)
	}
	rayResponse(w, http.StatusOK, true, "", map[string]any{"result": out})
}

// file answers a file's text, or follows it (stream).
func (p *logProxy) file(w http.ResponseWriter, r *http.Request, stream bool) {
	lq, err := ParseLogQuery(r.URL.Query(), stream)
	if err == nil {
		err = lq.CheckFile()
	}
	if err != nil {
		rayResponse(w, http.StatusBadRequest, false, err.Error(), nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), logCallTimeout)
	n, name, err := p.locate(ctx, lq)
	cancel()
	if err != nil {
		writeLogError(w, err)
		return
	}
	q := url.Values{"filename": {name}, "lines": {strconv.Itoa(lq.Lines)}}
	callCtx, cancel := context.WithTimeout(r.Context(), logCallTimeout)
	if lq.Stream {
		q.Set("media_type", "stream")
		q.Set("interval", strconv.FormatFloat(lq.Interval.Seconds(), 'f', -1, 64))
		q.Set("timeout", strconv.FormatFloat(lq.Timeout.Seconds(), 'f', -1, 64))
		callCtx, cancel = context.WithTimeout(r.Context(), lq.Timeout+logCallTimeout)
	}
	defer cancel()
	resp, err := p.call(callCtx, n, AgentLogFilePath, q)
	if err != nil {
		writeLogError(w, err)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	buf := make([]byte, 32<<10)
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			if f, ok := w.(http.Flusher); ok && lq.Stream {
				f.Flush()
			}
		}
		if rerr != nil {
			return
		}
	}
}

// locate finds the node and file a request names.
func (p *logProxy) locate(ctx context.Context, lq LogQuery) (*rpcpb.NodeView, string, error) {
	switch {
	case lq.ActorID != "":
		a, err := p.gcs.GetActor(ctx, &rpcpb.GetActorRequest{ActorId: lq.ActorID})
		if status.Code(err) == codes.NotFound {
			return nil, "", logErrorf(http.StatusNotFound, "actor %s does not exist", lq.ActorID)
		}
		if err != nil {
			return nil, "", err
		}
		if a.WorkerId == "" {
			return nil, "", logErrorf(http.StatusNotFound, "actor %s has no worker now (%s): its log is that of the worker it runs in", lq.ActorID, a.State)
		}
		n, err := p.node(ctx, a.NodeId, "")
		return n, WorkerLogName(a.WorkerId), err
	case lq.TaskID != "":
		req := &rpcpb.ListTasksRequest{Limit: 1000, Filters: []*rpcpb.TaskFilter{{Key: "task_id", Predicate: "=", Value: lq.TaskID}}}
		l, err := p.gcs.ListTasks(ctx, req)
		if err != nil {
			return nil, "", err
		}
		var found *rpcpb.TaskState
		for _, t := range l.Tasks {
			if t.Attempt == int32(lq.Attempt) {
				found = t
			}
		}
		if found == nil {
			return nil, "", logErrorf(http.StatusNotFound, "task %s attempt %d is not in the task history", lq.TaskID, lq.Attempt)
		}
		if found.WorkerId == "" {
			return nil, "", logErrorf(http.StatusNotFound, "task %s attempt %d has not run on a worker (%s)", lq.TaskID, lq.Attempt, found.State)
		}
		n, err := p.node(ctx, found.NodeId, "")
		return n, WorkerLogName(found.WorkerId), err
	case lq.SubmissionID != "":
		n, err := p.head(ctx)
		return n, DriverLogName(lq.SubmissionID), err
	case lq.PID != 0:
		n, err := p.node(ctx, lq.NodeID, lq.NodeIP)
		if err != nil {
			return nil, "", err
		}
		w, err := p.workerOfPID(ctx, n.NodeId, lq.PID)
		return n, WorkerLogName(w), err
	}
	n, err := p.node(ctx, lq.NodeID, lq.NodeIP)
	return n, lq.Filename, err
}

// workerOfPID is the worker with pid on node, as the GCS knows workers:
// those of actors and of tasks in the history.
func (p *logProxy) workerOfPID(ctx context.Context, node string, pid int) (string, error) {
	actors, err := p.gcs.ListActors(ctx, &rpcpb.Empty{})
	if err != nil {
		return "", err
	}
	for _, a := range actors.Actors {
		if a.NodeId == node && int(a.Pid) == pid && a.WorkerId != "" {
			return a.WorkerId, nil
		}
	}
	l, err := p.gcs.ListTasks(ctx, &rpcpb.ListTasksRequest{Limit: 1, Filters: []*rpcpb.TaskFilter{
		{Key: "node_id", Predicate: "=", Value: node}, {Key: "worker_pid", Predicate: "=", Value: strconv.Itoa(pid)}}})
	if err != nil {
		return "", err
	}
	if len(l.Tasks) == 0 || l.Tasks[0].WorkerId == "" {
		return "", logErrorf(http.StatusNotFound, "no worker with pid %d is known on node %s (the pids of actors' and tasks' workers are)", pid, node)
	}
	return l.Tasks[0].WorkerId, nil
}

// node finds an alive node by id or ip.
func (p *logProxy) node(ctx context.Context, id, ip string) (*rpcpb.NodeView, error) {
	v, err := p.gcs.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return nil, err
	}
	var dead *rpcpb.NodeView
	for _, n := range v.Nodes {
		if (id != "" && n.NodeId == id) || (id == "" && n.Ip == ip) {
			if n.Alive {
				return n, nil
			}
			dead = n
		}
	}
	what := "node " + id
	if id == "" {
		what = "no node with ip " + ip
	}
	if dead != nil {
		return nil, logErrorf(http.StatusNotFound, "node %s (%s) is dead: its logs cannot be read through the cluster (%s)", dead.NodeId, dead.Ip, dead.DeathReason)
	}
	if id != "" {
		return nil, logErrorf(http.StatusNotFound, "%s is not in the cluster", what)
	}
	return nil, logErrorf(http.StatusNotFound, "%s is in the cluster", what)
}

func (p *logProxy) head(ctx context.Context) (*rpcpb.NodeView, error) {
	v, err := p.gcs.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return nil, err
	}
	for _, n := range v.Nodes {
		if n.IsHead && n.Alive {
			return n, nil
		}
	}
	return nil, logErrorf(http.StatusServiceUnavailable, "the head node is not registered with the GCS")
}

// call asks node n's agent; an answer other than 200 becomes an error with
// the agent's status and message.
func (p *logProxy) call(ctx context.Context, n *rpcpb.NodeView, path string, q url.Values) (*http.Response, error) {
	u := url.URL{Scheme: p.scheme, Host: net.JoinHostPort(n.Ip, strconv.Itoa(p.port)), Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, logErrorf(http.StatusBadGateway, "node %s's agent at %s did not answer: %v", n.NodeId, u.Host, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	var env envelope
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := string(b)
	if json.Unmarshal(b, &env) == nil && env.Msg != "" {
		msg = env.Msg
	}
	code := resp.StatusCode
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		code = http.StatusBadGateway // the head's credentials, not the caller's, were refused
		msg = "node " + n.NodeId + "'s agent refused the head: " + msg
	}
	return nil, logErrorf(code, "%s", msg)
}

type envelope struct {
	Result bool   `json:"result"`
	Msg    string `json:"msg"`
}
