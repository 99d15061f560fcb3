package state

import (
	"context"
	"fmt"
)

// Task is a task attempt (Ray's TaskState); the fields after ErrorType are
// filled with Options.Detail.
type Task struct {
	TaskID          string             `json:"task_id"`
	AttemptNumber   int                `json:"attempt_number"`
	Name            string             `json:"name"`
	State           string             `json:"state"`
	JobID           string             `json:"job_id"`
	ActorID         string             `json:"actor_id"`
	Type            string             `json:"type"`
	FuncOrClassName string             `json:"func_or_class_name"`
	ParentTaskID    string             `json:"parent_task_id"`
	NodeID          string             `json:"node_id"`
	WorkerID        string             `json:"worker_id"`
	WorkerPID       int                `json:"worker_pid"`
	ErrorType       string             `json:"error_type"`
	Language        string             `json:"language"`
	Resources       map[string]float64 `json:"required_resources"`
	PlacementGroup  string             `json:"placement_group_id"`
	Events          []TaskEvent        `json:"events"`
	CreationTimeMs  int64              `json:"creation_time_ms"`
	StartTimeMs     int64              `json:"start_time_ms"`
	EndTimeMs       int64              `json:"end_time_ms"`
	ErrorMessage    string             `json:"error_message"`
}

// TaskEvent is one status an attempt entered, and when (Unix ms).
type TaskEvent struct {
	State     string `json:"state"`
	CreatedMs int64  `json:"created_ms"`
}

// Actor is Ray's ActorState.
type Actor struct {
	ActorID        string             `json:"actor_id"`
	ClassName      string             `json:"class_name"`
	State          string             `json:"state"`
	JobID          string             `json:"job_id"`
	Name           string             `json:"name"`
	NodeID         string             `json:"node_id"`
	PID            int                `json:"pid"`
	Namespace      string             `json:"ray_namespace"`
	Resources      map[string]float64 `json:"required_resources"`
	DeathCause     *DeathCause        `json:"death_cause"`
	IsDetached     bool               `json:"is_detached"`
	PlacementGroup string             `json:"placement_group_id"`
	NumRestarts    int                `json:"num_restarts"`
	// IsLightweight is goray's: a lightweight actor (ray.Lightweight), an
	// instance in a host worker shared with others (PID is the host's).
	IsLightweight bool `json:"is_lightweight"`
}

// DeathCause says why an actor is DEAD.
type DeathCause struct {
	Context struct {
		ErrorMessage string `json:"error_message"`
	} `json:"actor_died_error_context"`
}

// Node is Ray's NodeState.
type Node struct {
	NodeID         string             `json:"node_id"`
	NodeIP         string             `json:"node_ip"`
	IsHeadNode     bool               `json:"is_head_node"`
	State          string             `json:"state"`
	StateMessage   string             `json:"state_message"`
	NodeName       string             `json:"node_name"`
	ResourcesTotal map[string]float64 `json:"resources_total"`
	Labels         map[string]string  `json:"labels"`
}

// PlacementGroup is Ray's PlacementGroupState.
type PlacementGroup struct {
	PlacementGroupID string   `json:"placement_group_id"`
	Name             string   `json:"name"`
	CreatorJobID     string   `json:"creator_job_id"`
	State            string   `json:"state"`
	Bundles          []Bundle `json:"bundles"`
	IsDetached       bool     `json:"is_detached"`
}

// Bundle is one bundle of a placement group and the node holding it.
type Bundle struct {
	BundleID      string             `json:"bundle_id"`
	NodeID        string             `json:"node_id"`
	UnitResources map[string]float64 `json:"unit_resources"`
}

// Job is Ray's JobState (a submission or a driver run by hand).
type Job struct {
	JobID        string `json:"job_id"`
	SubmissionID string `json:"submission_id"`
	Entrypoint   string `json:"entrypoint"`
	Type         string `json:"type"`
	Status       string `json:"status"`
	Message      string `json:"message"`
	ErrorType    string `json:"error_type"`
}

// ListTasks lists task attempts, newest first.
func (c *Client) ListTasks(ctx context.Context, o Options) ([]Task, Meta, error) {
	var out []Task
	m, err := c.list(ctx, "tasks", o, &out)
	return out, m, err
}

// ListActors lists actors.
func (c *Client) ListActors(ctx context.Context, o Options) ([]Actor, Meta, error) {
	var out []Actor
	m, err := c.list(ctx, "actors", o, &out)
	return out, m, err
}

// ListNodes lists nodes, alive and dead.
func (c *Client) ListNodes(ctx context.Context, o Options) ([]Node, Meta, error) {
	var out []Node
	m, err := c.list(ctx, "nodes", o, &out)
	return out, m, err
}

// ListPlacementGroups lists placement groups.
func (c *Client) ListPlacementGroups(ctx context.Context, o Options) ([]PlacementGroup, Meta, error) {
	var out []PlacementGroup
	m, err := c.list(ctx, "placement_groups", o, &out)
	return out, m, err
}

// ListJobs lists jobs.
func (c *Client) ListJobs(ctx context.Context, o Options) ([]Job, Meta, error) {
	var out []Job
	m, err := c.list(ctx, "jobs", o, &out)
	return out, m, err
}

// GetActor returns one actor with its details (Ray's get_actor).
func (c *Client) GetActor(ctx context.Context, id string) (*Actor, error) {
	as, _, err := c.ListActors(ctx, Options{Detail: true, Filters: []Filter{{"actor_id", "=", id}}})
	if err != nil {
		return nil, err
	}
	if len(as) == 0 {
		return nil, fmt.Errorf("actor %s not found", id)
	}
	return &as[0], nil
}
