package core

import (
	"context"
	"fmt"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TaskError is a task's (or actor method's) own error, carried back from the
// worker: the remote message and the Go type of the error value.
type TaskError struct {
	TaskName string
	Message  string
	Type     string
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("task %s failed: %s (%s)", e.TaskName, e.Message, e.Type)
}

// ActorDiedError means the actor is dead (killed, out of restarts, constructor
// failed) or died while running the call.
type ActorDiedError struct {
	ActorID string
	Cause   string
}

func (e *ActorDiedError) Error() string {
	return fmt.Sprintf("actor %s died: %s", e.ActorID, e.Cause)
}

// ObjectLostError means the object's value is gone and could not be rebuilt.
type ObjectLostError struct {
	ObjectID string
	Reason   string
}

func (e *ObjectLostError) Error() string {
	return fmt.Sprintf("object %s lost: %s", e.ObjectID, e.Reason)
}

// OwnerDiedError means the process that owns the object is gone, so the object
// cannot be read (not recoverable, as in Ray).
type OwnerDiedError struct {
	ObjectID string
	Owner    string
}

func (e *OwnerDiedError) Error() string {
	return fmt.Sprintf("owner %s of object %s died", e.Owner, e.ObjectID)
}

// GetTimeoutError means Get or GetAll ran out of time. It unwraps to context.DeadlineExceeded.
type GetTimeoutError struct {
	ObjectID string
	After    time.Duration
}

func (e *GetTimeoutError) Error() string {
	return fmt.Sprintf("get of object %s timed out", e.ObjectID)
}

// Unwrap lets errors.Is(err, context.DeadlineExceeded) hold.
func (e *GetTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// TaskCancelledError means the task was cancelled with Cancel.
type TaskCancelledError struct {
	TaskID string
}

func (e *TaskCancelledError) Error() string { return fmt.Sprintf("task %s was cancelled", e.TaskID) }

// WorkerCrashedError means the worker process (or its node) died while running the
// task and its retries are used up.
type WorkerCrashedError struct {
	TaskName string
	Message  string
}

func (e *WorkerCrashedError) Error() string {
	return fmt.Sprintf("task %s: worker died and retries are exhausted: %s", e.TaskName, e.Message)
}

// OutOfMemoryError means the node's memory monitor killed the worker
// running the task (Ray's OutOfMemoryError) and its retries are used up;
// Message is the node's reason (its memory, the threshold, the victim).
type OutOfMemoryError struct {
	TaskName string
	Message  string
}

func (e *OutOfMemoryError) Error() string {
	return fmt.Sprintf("task %s: %s", e.TaskName, e.Message)
}

// UnschedulableError means the task can never be placed (hard node affinity to a dead node).
type UnschedulableError struct {
	TaskName string
	Message  string
}

func (e *UnschedulableError) Error() string {
	return fmt.Sprintf("task %s cannot be scheduled: %s", e.TaskName, e.Message)
}

func errorFromInfo(e *rpcpb.ErrorInfo) error {
	switch e.Kind {
	case rpcpb.ErrorInfo_TASK:
		return &TaskError{TaskName: e.TaskName, Message: e.Message, Type: e.Type}
	case rpcpb.ErrorInfo_ACTOR_DIED:
		return &ActorDiedError{ActorID: e.ActorId, Cause: e.Message}
	case rpcpb.ErrorInfo_OBJECT_LOST:
		return &ObjectLostError{ObjectID: e.ObjectId, Reason: e.Message}
	case rpcpb.ErrorInfo_OWNER_DIED:
		return &OwnerDiedError{ObjectID: e.ObjectId, Owner: e.Message}
	case rpcpb.ErrorInfo_CANCELLED:
		return &TaskCancelledError{TaskID: e.Message}
	case rpcpb.ErrorInfo_UNSCHEDULABLE:
		return &UnschedulableError{TaskName: e.TaskName, Message: e.Message}
	case rpcpb.ErrorInfo_OUT_OF_MEMORY:
		return &OutOfMemoryError{TaskName: e.TaskName, Message: e.Message}
	default:
		return &WorkerCrashedError{TaskName: e.TaskName, Message: e.Message}
	}
}

func infoFromError(err error) *rpcpb.ErrorInfo {
	// Exact types on purpose: an error wrapping one of these is a task's own
	// error and goes back as such, with its whole message.
	switch e := err.(type) { //nolint:errorlint // see above
	case *TaskError:
		return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_TASK, Message: e.Message, Type: e.Type, TaskName: e.TaskName}
	case *ActorDiedError:
		return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_ACTOR_DIED, Message: e.Cause, ActorId: e.ActorID}
	case *ObjectLostError:
		return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_OBJECT_LOST, Message: e.Reason, ObjectId: e.ObjectID}
	case *OwnerDiedError:
		return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_OWNER_DIED, Message: e.Owner, ObjectId: e.ObjectID}
	case *TaskCancelledError:
		return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_CANCELLED, Message: e.TaskID}
	case *UnschedulableError:
		return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_UNSCHEDULABLE, Message: e.Message, TaskName: e.TaskName}
	case *WorkerCrashedError:
		return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_WORKER_CRASHED, Message: e.Message, TaskName: e.TaskName}
	case *OutOfMemoryError:
		return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_OUT_OF_MEMORY, Message: e.Message, TaskName: e.TaskName}
	}
	return &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_TASK, Message: err.Error(), Type: fmt.Sprintf("%T", err)}
}
