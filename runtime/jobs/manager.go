// Package jobs is the head's job supervisor and the Jobs REST API that Ray's
// dashboard serves on :8265 (see runtime/jobs/api for the shapes). A
// submitted entrypoint runs as `/bin/sh -c ENTRYPOINT` in its own process
// group with the cluster's address in its environment; its stdout and stderr
// go to <temp dir>/logs/job-driver-<submission_id>.log. Before starting, the
// supervisor reserves the entrypoint's resources with a placement group (one
// STRICT_PACK bundle, released when the job ends) and unpacks the
// runtime_env's working_dir — a package uploaded to the head's
// content-addressed store, or a remote zip it fetches over http(s)
// (fetch.go) — into a per-job directory. Job records live in the GCS internal KV,
// so a restarted dashboard still lists them; a job it finds PENDING or
// RUNNING there lost its supervisor and is marked FAILED.
package jobs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/jobs/api"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Config configures a Manager.
type Config struct {
	// GCS is the cluster's GCS (job records, packages, reservations).
	GCS rpcpb.GcsClient
	// GcsAddress is what entrypoints get as GORAY_ADDRESS and RAY_ADDRESS.
	GcsAddress string
	// Dir is the node's temp dir: logs go to Dir/logs, working dirs to Dir/jobs.
	Dir string
	// NodeIP is reported as the driver's node_ip_address.
	NodeIP string
	// StopGrace is how long a stopped entrypoint gets between SIGTERM and
	// SIGKILL (default RAY_JOB_STOP_WAIT_TIME_S or 3s).
	StopGrace time.Duration
	// StartTimeout bounds how long a job may wait for its resources
	// (default RAY_JOB_START_TIMEOUT_SECONDS or 15 minutes).
	StartTimeout time.Duration
	Logger       *log.Logger
	// Security is the cluster's credentials: entrypoints get the token by
	// a file (RAY_AUTH_TOKEN_PATH), never in their environment.
	Security auth.Config
}

// Errors the API maps to status codes.
var (
	ErrNotFound    = errors.New("job does not exist")
	ErrDuplicate   = errors.New("job already exists")
	ErrNotTerminal = errors.New("job is not in a terminal state")
)

// BadRequestError is a submission Ray would answer with 400.
type BadRequestError struct{ Err error }

func (e *BadRequestError) Error() string { return e.Err.Error() }
func (e *BadRequestError) Unwrap() error { return e.Err }

// Manager supervises the jobs submitted to this head.
type Manager struct {
	cfg   Config
	store store
	log   *log.Logger
	// tokenFile hands entrypoints the cluster's token ("" without one).
	tokenFile string

	// uploads holds a token per package upload in progress.
	uploads chan struct{}
	// remote caches the remote working_dir zips fetcher downloads.
	remote  *uriCache
	fetcher *remoteFetcher

	mu     sync.Mutex
	runs   map[string]*run
	closed bool
}

// run is one job this Manager is supervising.
type run struct {
	id       string
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
}

func (r *run) stop() { r.stopOnce.Do(func() { close(r.stopCh) }) }

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			return time.Duration(f * float64(time.Second))
		}
	}
	return def
}

// NewManager makes a Manager and fails the jobs a previous supervisor left
// PENDING or RUNNING in the GCS (their processes are gone with it).
func NewManager(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.GCS == nil || cfg.Dir == "" {
		return nil, errors.New("jobs: Config needs GCS and Dir")
	}
	if cfg.StopGrace == 0 {
		cfg.StopGrace = envDuration("RAY_JOB_STOP_WAIT_TIME_S", 3*time.Second)
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = envDuration("RAY_JOB_START_TIMEOUT_SECONDS", 15*time.Minute)
	}
	if cfg.NodeIP == "" {
		cfg.NodeIP = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr, "[jobs] ", log.LstdFlags)
	}
	for _, d := range []string{filepath.Join(cfg.Dir, "logs"), filepath.Join(cfg.Dir, "jobs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	remote, err := newURICache(filepath.Join(cfg.Dir, "runtime_resources", "working_dir_files"), cacheBytesFromEnv())
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, store: store{gcs: cfg.GCS}, log: cfg.Logger, runs: map[string]*run{},
		uploads: make(chan struct{}, maxConcurrentUploads), remote: remote, fetcher: newRemoteFetcher()}
	tf, err := cfg.Security.WriteTokenFile(filepath.Join(cfg.Dir, "secrets"))
	if err != nil {
		return nil, err
	}
	m.tokenFile = tf
	if err := m.recover(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manager) recover(ctx context.Context) error {
	recs, err := m.store.list(ctx)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if r.Status.IsTerminal() {
			continue
		}
		m.releaseResources(r.PlacementGroupID)
		r.PlacementGroupID = ""
		if r.DriverInfo != nil {
			pid, _ := strconv.Atoi(r.DriverInfo.PID)
			if n := killOrphans(pid, r.ID()); n > 0 {
				m.log.Printf("job %s: killed %d processes left by the previous supervisor", logID(r.ID()), n)
			}
		}
		msg := fmt.Sprintf("Job supervisor died unexpectedly: the dashboard supervising this job restarted while the job was %s, "+
			"so its entrypoint process was lost. Submit the job again with a new submission_id.", r.Status)
		m.finish(r, api.StatusFailed, msg, api.ErrTypeSupervisorDied, nil)
		m.log.Printf("job %s: marked FAILED after a dashboard restart (was %s)", logID(r.ID()), r.Status)
	}
	return nil
}

func newSubmissionID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 16)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "raysubmit_" + string(b)
}

// LogPath is where a job's entrypoint output goes.
func (m *Manager) LogPath(id string) string {
	return filepath.Join(m.cfg.Dir, "logs", "job-driver-"+id+".log")
}

func (m *Manager) workDir(id string) string {
	return filepath.Join(m.cfg.Dir, "jobs", id, "working_dir")
}

// Submit records a job as PENDING and starts supervising it. It returns the
// submission id.
func (m *Manager) Submit(ctx context.Context, req api.SubmitRequest) (string, error) {
	if err := req.Normalize(); err != nil {
		return "", &BadRequestError{err}
	}
	id := req.SubmissionID
	if id == "" {
		id = newSubmissionID()
	}
	rec, res := newRecord(req, id, time.Now().UnixMilli())
	r := &run{id: id, stopCh: make(chan struct{}), done: make(chan struct{})}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", errors.New("the job manager is shutting down")
	}
	if _, busy := m.runs[id]; busy {
		m.mu.Unlock()
		return "", ErrDuplicate
	}
	m.runs[id] = r
	m.mu.Unlock()
	if err := m.store.create(ctx, rec); err != nil {
		m.mu.Lock()
		delete(m.runs, id)
		m.mu.Unlock()
		if errors.Is(err, errExists) {
			return "", ErrDuplicate
		}
		if errors.Is(err, errRecordTooLarge) {
			return "", &BadRequestError{err}
		}
		return "", err
	}
	m.log.Printf("job %s submitted: %s", id, api.Clip(req.Entrypoint, logClip))
	m.statusEvent(rec)
	go m.supervise(r, rec, res)
	return id, nil
}

// Get returns a job's details.
func (m *Manager) Get(ctx context.Context, id string) (*api.JobDetails, error) {
	r, err := m.store.get(ctx, id)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, ErrNotFound
	}
	return &r.JobDetails, nil
}

// List returns every submitted job, ordered by submission id.
// A record that can never be read is left out (and reported in the log).
func (m *Manager) List(ctx context.Context) ([]api.JobDetails, error) {
	recs, err := m.store.listReporting(ctx, m.reportUnreadable)
	if err != nil {
		return nil, err
	}
	out := make([]api.JobDetails, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.JobDetails)
	}
	return out, nil
}

// Stop asks a job to stop: a PENDING job is abandoned, a RUNNING one gets
// SIGTERM (SIGKILL after the grace period). It reports false for a job that
// already ended.
func (m *Manager) Stop(ctx context.Context, id string) (bool, error) {
	rec, err := m.store.get(ctx, id)
	if err != nil {
		return false, err
	}
	if rec == nil {
		return false, ErrNotFound
	}
	if rec.Status.IsTerminal() {
		return false, nil
	}
	m.mu.Lock()
	r := m.runs[id]
	m.mu.Unlock()
	if r == nil {
		// Nobody supervises it (another dashboard's job): record the stop.
		m.finish(rec, api.StatusStopped, api.MsgStopped, "", nil)
		return true, nil
	}
	r.stop()
	return true, nil
}

// Delete removes a terminal job's record, log file and working dir. A
// corrupt record no supervisor holds is removed too: the API is how to get
// rid of it.
func (m *Manager) Delete(ctx context.Context, id string) (bool, error) {
	rec, err := m.store.get(ctx, id)
	var corrupt *corruptRecordError
	if errors.As(err, &corrupt) && !m.active(id) {
		return m.deleteCorrupt(ctx, id)
	}
	if err != nil {
		return false, err
	}
	if rec == nil {
		return false, ErrNotFound
	}
	if !rec.Status.IsTerminal() {
		return false, fmt.Errorf("%w: attempted to delete job with id '%s', but it is in a non-terminal state %s", ErrNotTerminal, logID(id), rec.Status)
	}
	m.mu.Lock()
	r := m.runs[id]
	m.mu.Unlock()
	if r != nil {
		select { // the supervisor is finishing its cleanup
		case <-r.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	if err := m.store.del(ctx, id); err != nil {
		return false, err
	}
	m.removeFiles(id)
	return true, nil
}

// active reports whether this Manager is still supervising the job.
func (m *Manager) active(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.runs[id]
	return ok
}

// Close stops supervising: running entrypoints are killed (their records
// are left for the next dashboard to fail, as after a crash).
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	runs := make([]*run, 0, len(m.runs))
	for _, r := range m.runs {
		runs = append(runs, r)
	}
	m.mu.Unlock()
	for _, r := range runs {
		r.stop()
	}
	for _, r := range runs {
		select {
		case <-r.done:
		case <-time.After(m.cfg.StopGrace + 5*time.Second):
		}
	}
}

func (m *Manager) closing() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// finish records a terminal status.
func (m *Manager) finish(r *record, st api.JobStatus, msg, errType string, exitCode *int) {
	now := time.Now().UnixMilli()
	r.Status, r.Message, r.EndTime, r.DriverExitCode = st, &msg, &now, exitCode
	if errType != "" {
		r.ErrorType = &errType
	}
	if err := m.store.put(context.Background(), r); err != nil {
		m.log.Printf("job %s: %v", logID(r.ID()), err)
	}
	m.statusEvent(r)
}
