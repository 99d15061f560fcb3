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

// MsgDuplicateHint ends Ray's answer to a submission whose submission_id is
// taken; clients (KubeRay's among them) look for these words.
const MsgDuplicateHint = "Please use a different submission_id"

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

// Normalize validates a request the way Ray's JobSubmitRequest does, plus
// goray's limits (limits.go), and folds the deprecated job_id into
// submission_id. Its errors are the 400 answers of POST /api/jobs/; each
// names the field and, for a limit, the limit. The result depends only on
// the request.
func (r *SubmitRequest) Normalize() error {
	if strings.TrimSpace(r.Entrypoint) == "" {
		return fmt.Errorf("entrypoint is required: a non-empty shell command")
	}
	if len(r.Entrypoint) > MaxEntrypointBytes {
		return fmt.Errorf("entrypoint is %d bytes, more than the limit of %d", len(r.Entrypoint), MaxEntrypointBytes)
	}
	if strings.Contains(r.Entrypoint, "\x00") {
		return fmt.Errorf("entrypoint contains NUL, which a command line cannot")
	}
	if r.SubmissionID == "" {
		r.SubmissionID = r.JobID
	} else if r.JobID != "" && r.JobID != r.SubmissionID {
		return fmt.Errorf("job_id %s and submission_id %s must be the same when both are given", Clip(r.JobID, 64), Clip(r.SubmissionID, 64))
	}
	if r.SubmissionID != "" {
		if err := ValidSubmissionID(r.SubmissionID); err != nil {
			return err
		}
	}
	if err := validateMetadata(r.Metadata); err != nil {
		return err
	}
	if r.EntrypointNumCPUs != nil {
		if err := validQuantity("entrypoint_num_cpus", *r.EntrypointNumCPUs); err != nil {
			return err
		}
	}
	if r.EntrypointNumGPUs != nil {
		if err := validQuantity("entrypoint_num_gpus", *r.EntrypointNumGPUs); err != nil {
			return err
		}
	}
	if m := r.EntrypointMemory; m != nil && (*m < 0 || *m > MaxEntrypointMemory) {
		if *m < 0 {
			return fmt.Errorf("entrypoint_memory must be a non-negative integer, got %d", *m)
		}
		return fmt.Errorf("entrypoint_memory is %d bytes, more than the limit of %d", *m, int64(MaxEntrypointMemory))
	}
	if len(r.EntrypointResources) > MaxEntrypointResources {
		return fmt.Errorf("entrypoint_resources has %d resources, more than the limit of %d", len(r.EntrypointResources), MaxEntrypointResources)
	}
	for _, k := range sortedKeys(r.EntrypointResources) {
		if err := validResourceName(k); err != nil {
			return err
		}
		if err := validQuantity("entrypoint_resources["+Clip(k, 64)+"]", r.EntrypointResources[k]); err != nil {
			return err
		}
	}
	return ValidateRuntimeEnv(r.RuntimeEnv)
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
	for _, k := range sortedKeys(m) {
		s, ok := m[k].(string)
		if !ok {
			return nil, fmt.Errorf("runtime_env.env_vars[%s] must be a string, got %T", Clip(k, 64), m[k])
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
