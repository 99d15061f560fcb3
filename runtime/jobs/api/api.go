// Package api holds the wire types of goray's Jobs REST API, which keeps the
// shapes of Ray's (python/ray/dashboard/modules/job/common.py and
// pydantic_models.py): the submit request and reply, JobDetails, the status
// enum and Ray's default status messages. The head's job supervisor
// (runtime/jobs), its Go client (runtime/jobs/client), the `goray job` CLI and
// the RayJob controller all share these types. The package has no
// dependencies so that any of them can import it.
package api

import (
	"fmt"
	"math"
	"strings"
)

// JobStatus is Ray's job status enum.
type JobStatus string

// Ray's job statuses.
const (
	StatusPending   JobStatus = "PENDING"
	StatusRunning   JobStatus = "RUNNING"
	StatusStopped   JobStatus = "STOPPED"
	StatusSucceeded JobStatus = "SUCCEEDED"
	StatusFailed    JobStatus = "FAILED"
)

// IsTerminal reports whether a job in this status can never change again.
func (s JobStatus) IsTerminal() bool {
	return s == StatusStopped || s == StatusSucceeded || s == StatusFailed
}

// Ray's default messages for each status.
const (
	MsgPending             = "Job has not started yet."
	MsgPendingResources    = " It may be waiting for resources (CPUs, GPUs, memory, custom resources) to become available."
	MsgPendingRuntimeEnv   = " It may be waiting for the runtime environment to be set up."
	MsgRunning             = "Job is currently running."
	MsgStopped             = "Job was intentionally stopped."
	MsgSucceeded           = "Job finished successfully."
	MsgFailed              = "Job failed."
	JobTypeSubmission      = "SUBMISSION"
	JobTypeDriver          = "DRIVER"
	ErrTypeEntrypoint      = "JOB_ENTRYPOINT_COMMAND_ERROR"
	ErrTypeRuntimeEnvSetup = "RUNTIME_ENV_SETUP_FAILED"
	ErrTypeSupervisorDied  = "JOB_SUPERVISOR_ACTOR_DIED"
	ErrTypeStartTimeout    = "JOB_SUPERVISOR_ACTOR_START_TIMEOUT"
)

// PackagePrefix starts the name of every working_dir package the head
// stores; a runtime_env references one as gcs://_goray_pkg_<sha256>.zip.
const PackagePrefix = "_goray_pkg_"

// PackageURI is the runtime_env URI of a package whose zip hashes to sha256hex.
func PackageURI(sha256hex string) string { return "gcs://" + PackagePrefix + sha256hex + ".zip" }

// SubmitRequest is Ray's JobSubmitRequest: only Entrypoint is required.
type SubmitRequest struct {
	Entrypoint   string            `json:"entrypoint"`
	SubmissionID string            `json:"submission_id,omitempty"`
	JobID        string            `json:"job_id,omitempty"` // deprecated alias of SubmissionID
	RuntimeEnv   map[string]any    `json:"runtime_env,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`

	EntrypointNumCPUs   *float64           `json:"entrypoint_num_cpus,omitempty"`
	EntrypointNumGPUs   *float64           `json:"entrypoint_num_gpus,omitempty"`
	EntrypointMemory    *int64             `json:"entrypoint_memory,omitempty"`
	EntrypointResources map[string]float64 `json:"entrypoint_resources,omitempty"`
}

// SubmitResponse is Ray's JobSubmitResponse; JobID repeats SubmissionID.
type SubmitResponse struct {
	JobID        string `json:"job_id"`
	SubmissionID string `json:"submission_id"`
}

// StopResponse is the reply of POST /api/jobs/{id}/stop.
type StopResponse struct {
	Stopped bool `json:"stopped"`
}

// DeleteResponse is the reply of DELETE /api/jobs/{id}.
type DeleteResponse struct {
	Deleted bool `json:"deleted"`
}

// LogsResponse is the reply of GET /api/jobs/{id}/logs.
type LogsResponse struct {
	Logs string `json:"logs"`
}

// VersionResponse is the reply of GET /api/version.
type VersionResponse struct {
	Version     string `json:"version"`
	RayVersion  string `json:"ray_version"`
	RayCommit   string `json:"ray_commit"`
	SessionName string `json:"session_name"`
}

// DriverInfo identifies the entrypoint process.
type DriverInfo struct {
	ID            string `json:"id"`
	NodeIPAddress string `json:"node_ip_address"`
	PID           string `json:"pid"`
}

// JobDetails is Ray's JobDetails (JobInfo plus type, ids and driver
// details). Fields Ray reports as null until known are pointers.
type JobDetails struct {
	Type                   string             `json:"type"`
	JobID                  *string            `json:"job_id"`
	SubmissionID           *string            `json:"submission_id"`
	DriverInfo             *DriverInfo        `json:"driver_info"`
	Status                 JobStatus          `json:"status"`
	Entrypoint             string             `json:"entrypoint"`
	Message                *string            `json:"message"`
	ErrorType              *string            `json:"error_type"`
	StartTime              *int64             `json:"start_time"`
	EndTime                *int64             `json:"end_time"`
	Metadata               map[string]string  `json:"metadata"`
	RuntimeEnv             map[string]any     `json:"runtime_env"`
	DriverAgentHTTPAddress *string            `json:"driver_agent_http_address"`
	DriverNodeID           *string            `json:"driver_node_id"`
	DriverExitCode         *int               `json:"driver_exit_code"`
	EntrypointNumCPUs      *float64           `json:"entrypoint_num_cpus"`
	EntrypointNumGPUs      *float64           `json:"entrypoint_num_gpus"`
	EntrypointMemory       *int64             `json:"entrypoint_memory"`
	EntrypointResources    map[string]float64 `json:"entrypoint_resources"`
	AttemptNumber          int                `json:"attempt_number"`
}

// ID is the submission id (or the driver job id for DRIVER jobs).
func (d *JobDetails) ID() string {
	if d.SubmissionID != nil {
		return *d.SubmissionID
	}
	if d.JobID != nil {
		return *d.JobID
	}
	return ""
}

// MessageText is the message or "".
func (d *JobDetails) MessageText() string {
	if d.Message == nil {
		return ""
	}
	return *d.Message
}

// Normalize validates a request the way Ray's JobSubmitRequest does and
// folds the deprecated job_id into submission_id. Its errors are the 400
// answers of POST /api/jobs/.
func (r *SubmitRequest) Normalize() error {
	if strings.TrimSpace(r.Entrypoint) == "" {
		return fmt.Errorf("entrypoint is required: a non-empty shell command")
	}
	if r.SubmissionID == "" {
		r.SubmissionID = r.JobID
	} else if r.JobID != "" && r.JobID != r.SubmissionID {
		return fmt.Errorf("job_id %q and submission_id %q must be the same when both are given", r.JobID, r.SubmissionID)
	}
	if strings.ContainsAny(r.SubmissionID, "/\\\x00") || r.SubmissionID == "." || r.SubmissionID == ".." {
		return fmt.Errorf("submission_id %q may not contain '/', '\\' or NUL", r.SubmissionID)
	}
	check := func(name string, v *float64) error {
		if v != nil && (*v < 0 || math.IsNaN(*v) || math.IsInf(*v, 0)) {
			return fmt.Errorf("%s must be a non-negative number, got %v", name, *v)
		}
		return nil
	}
	if err := check("entrypoint_num_cpus", r.EntrypointNumCPUs); err != nil {
		return err
	}
	if err := check("entrypoint_num_gpus", r.EntrypointNumGPUs); err != nil {
		return err
	}
	if r.EntrypointMemory != nil && *r.EntrypointMemory < 0 {
		return fmt.Errorf("entrypoint_memory must be a non-negative integer, got %d", *r.EntrypointMemory)
	}
	for k, v := range r.EntrypointResources {
		if err := check("entrypoint_resources["+k+"]", &v); err != nil {
			return err
		}
	}
	if r.RuntimeEnv != nil {
		if _, err := EnvVars(r.RuntimeEnv); err != nil {
			return err
		}
		if wd, ok := r.RuntimeEnv["working_dir"]; ok && wd != nil {
			if _, isStr := wd.(string); !isStr {
				return fmt.Errorf("runtime_env.working_dir must be a string URI, got %T", wd)
			}
		}
	}
	return nil
}

// EnvVars reads runtime_env.env_vars, which must map strings to strings.
func EnvVars(runtimeEnv map[string]any) (map[string]string, error) {
	raw, ok := runtimeEnv["env_vars"]
	if !ok || raw == nil {
		return nil, nil
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("runtime_env.env_vars must be a dict of strings to strings, got %T", raw)
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("runtime_env.env_vars[%q] must be a string, got %T", k, v)
		}
		out[k] = s
	}
	return out, nil
}

// Resources is the reservation a request asks for before its entrypoint
// starts, keyed by the runtime's resource names (CPU, GPU, memory, custom).
// An empty map means no reservation.
func Resources(cpus, gpus *float64, memory *int64, custom map[string]float64) map[string]float64 {
	out := map[string]float64{}
	if cpus != nil && *cpus > 0 {
		out["CPU"] = *cpus
	}
	if gpus != nil && *gpus > 0 {
		out["GPU"] = *gpus
	}
	if memory != nil && *memory > 0 {
		out["memory"] = float64(*memory)
	}
	for k, v := range custom {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// PendingMessage is Ray's PENDING message for a job with these settings.
func PendingMessage(reservesResources, hasRuntimeEnv bool) string {
	m := MsgPending
	if reservesResources {
		m += MsgPendingResources
	}
	if hasRuntimeEnv {
		m += MsgPendingRuntimeEnv
	}
	return m
}
