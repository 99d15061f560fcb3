package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/goray-dev/goray/runtime/internal/workerenv"
	"github.com/goray-dev/goray/runtime/jobs/api"
)

const msgShutdown = "Job supervisor died: the dashboard supervising this job shut down while the job was %s."

// supervise takes one job from PENDING to a terminal status.
func (m *Manager) supervise(r *run, rec *record, res map[string]float64) {
	defer func() {
		m.mu.Lock()
		delete(m.runs, r.id)
		m.mu.Unlock()
		close(r.done)
	}()
	stopped := func() bool {
		select {
		case <-r.stopCh:
			return true
		default:
			return false
		}
	}
	stopNow := func() {
		if m.closing() {
			m.finish(rec, api.StatusFailed, fmt.Sprintf(msgShutdown, rec.Status), api.ErrTypeSupervisorDied, nil)
		} else {
			m.finish(rec, api.StatusStopped, api.MsgStopped, "", nil)
		}
	}
	if msg := runtimeEnvSetupError(rec.RuntimeEnv); msg != "" {
		m.finish(rec, api.StatusFailed, msg, api.ErrTypeRuntimeEnvSetup, nil)
		return
	}
	if len(res) > 0 {
		pg, err := m.reserve(r, rec, res)
		if pg != "" {
			defer m.releaseResources(pg)
		}
		switch {
		case errors.Is(err, errStopped):
			stopNow()
			return
		case errors.Is(err, errStartTimeout):
			msg := fmt.Sprintf("Job supervisor actor failed to start within %v. This timeout can be configured by setting "+
				"the environment variable RAY_JOB_START_TIMEOUT_SECONDS. This may be because the job entrypoint's specified "+
				"resources (entrypoint_num_cpus, entrypoint_num_gpus, entrypoint_resources, entrypoint_memory) aren't available "+
				"on the cluster (needs %v). Try checking the cluster's available resources with `goray status` and specifying "+
				"fewer resources for the job entrypoint.", m.cfg.StartTimeout, res)
			m.finish(rec, api.StatusFailed, msg, api.ErrTypeStartTimeout, nil)
			return
		case err != nil:
			m.finish(rec, api.StatusFailed, "Failed to reserve the entrypoint's resources: "+err.Error(), api.ErrTypeRuntimeEnvSetup, nil)
			return
		}
	}
	dir := ""
	if uri, _ := rec.RuntimeEnv["working_dir"].(string); uri != "" {
		dir = m.workDir(r.id)
		if err := m.prepareWorkingDir(r, uri, dir); err != nil {
			if stopped() { // the download was cancelled by the stop
				stopNow()
				return
			}
			m.finish(rec, api.StatusFailed, "Failed to set up the runtime environment: working_dir: "+err.Error(), api.ErrTypeRuntimeEnvSetup, nil)
			return
		}
		rec.WorkDir = dir
	}
	if stopped() {
		stopNow()
		return
	}
	envVars, _ := api.EnvVars(rec.RuntimeEnv)
	cmd, logFile, err := m.startEntrypoint(r.id, rec.Entrypoint, dir, envVars)
	if err != nil {
		m.finish(rec, api.StatusFailed, "Failed to start the job entrypoint: "+err.Error(), api.ErrTypeEntrypoint, nil)
		return
	}
	pid := cmd.Process.Pid
	msg := api.MsgRunning
	rec.Status, rec.Message = api.StatusRunning, &msg
	rec.DriverInfo = &api.DriverInfo{ID: r.id, NodeIPAddress: m.cfg.NodeIP, PID: strconv.Itoa(pid)}
	if err := m.store.put(context.Background(), rec); err != nil {
		m.log.Printf("job %s: %v", r.id, err)
	}
	m.log.Printf("job %s running (pid %d)", r.id, pid)
	m.statusEvent(rec)

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	wasStopped := false
	select {
	case waitErr = <-exited:
	case <-r.stopCh:
		wasStopped = true
		syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case waitErr = <-exited:
		case <-time.After(m.cfg.StopGrace):
			syscall.Kill(-pid, syscall.SIGKILL)
			waitErr = <-exited
		}
	}
	_ = logFile.Close()
	code := exitCode(cmd, waitErr)
	switch {
	case wasStopped:
		stopNow()
	case code == 0:
		m.finish(rec, api.StatusSucceeded, api.MsgSucceeded, "", &code)
	default:
		m.finish(rec, api.StatusFailed, failureMessage(code, m.LogPath(r.id)), api.ErrTypeEntrypoint, &code)
	}
	m.log.Printf("job %s: %s (exit code %d)", r.id, rec.Status, code)
}

// exitCode is the entrypoint's exit status; like Python's returncode, a
// process killed by a signal reports minus the signal number.
func exitCode(cmd *exec.Cmd, waitErr error) int {
	if cmd.ProcessState == nil {
		return -1
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// Ray's failure message keeps the last lines of output.
const (
	failLogLines = 10
	failLogChars = 20000
)

func failureMessage(code int, logPath string) string {
	tail := lastLines(logPath, failLogLines, failLogChars)
	if tail == "" {
		return fmt.Sprintf("Job entrypoint command failed with exit code %d. No logs available.", code)
	}
	return fmt.Sprintf("Job entrypoint command failed with exit code %d, last available logs (truncated to 20,000 chars):\n%s", code, tail)
}

// environ is the entrypoint's environment: this process's, minus worker
// settings, plus the cluster address, the submission id and env_vars.
func (m *Manager) environ(id string, envVars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch {
		case hasKey(kv, workerenv.Worker), hasKey(kv, workerenv.Address), hasKey(kv, "RAY_ADDRESS"), hasKey(kv, "RAY_JOB_SUBMISSION_ID"),
			hasKey(kv, workerenv.RuntimeEnvVars):
			continue
		}
		env = append(env, kv)
	}
	env = m.cfg.Security.ChildEnv(env, m.tokenFile)
	env = append(env, workerenv.Address+"="+m.cfg.GcsAddress, "RAY_ADDRESS="+m.cfg.GcsAddress, "RAY_JOB_SUBMISSION_ID="+id)
	for k, v := range envVars {
		env = append(env, k+"="+v)
	}
	// The job's tasks and actors run with its variables too (Ray applies
	// a job's runtime_env to all its workers): the driver's core worker
	// passes them on.
	if e := workerenv.InheritedEnvVarsEntry(workerenv.InheritableEnvVars(envVars)); e != "" {
		env = append(env, e)
	}
	return env
}

func hasKey(kv, key string) bool {
	return len(kv) > len(key) && kv[:len(key)] == key && kv[len(key)] == '='
}

// startEntrypoint starts `/bin/sh -c entrypoint` in a new process group with
// its output appended to the job's log file.
func (m *Manager) startEntrypoint(id, entrypoint, dir string, envVars map[string]string) (*exec.Cmd, *os.File, error) {
	f, err := os.OpenFile(m.LogPath(id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("open the log file: %w", err)
	}
	cmd := exec.Command("/bin/sh", "-c", entrypoint)
	cmd.Dir = dir
	cmd.Env = m.environ(id, envVars)
	cmd.Stdout, cmd.Stderr = f, f
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return cmd, f, nil
}
