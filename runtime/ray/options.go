package ray

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/runtime/core"
	"github.com/goray-dev/goray/runtime/internal/workerenv"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

// Option is a per-call option passed among Remote's arguments.
type Option interface{ apply(*callOptions) }

type callOptions struct {
	resources       map[string]float64
	maxRetries      int
	retryExceptions bool
	retryOn         []string // error kinds (core.ErrorKind); none: any
	envVars         map[string]string
	// concurrencyGroups (actor creation) and concurrencyGroup (a call).
	concurrencyGroups map[string]int32
	concurrencyGroup  string
	strategy          *rpcpb.SchedulingStrategy
	maxRestarts       int
	maxTaskRetries    int
	maxConcurrency    int
	name, namespace   string
	detached          bool
	getIfExists       bool
	backpressure      int64
	idempotent        bool
	labelSelector     map[string]string
	// actor is the handle an actor call is made through: the core holds it
	// until the call finished (when counted).
	actor       *core.Handle
	lightweight bool
}

type optFunc func(*callOptions)

func (f optFunc) apply(o *callOptions) { f(o) }

func (o *callOptions) res() map[string]float64 {
	if o.resources == nil {
		o.resources = map[string]float64{}
	}
	return o.resources
}

// NumCPUs sets the CPUs a task or actor needs (tasks default to 1, actors to 0).
func NumCPUs(n float64) Option { return optFunc(func(o *callOptions) { o.res()["CPU"] = n }) }

// NumGPUs sets the GPUs needed.
func NumGPUs(n float64) Option { return optFunc(func(o *callOptions) { o.res()["GPU"] = n }) }

// Memory sets the memory (bytes) needed.
func Memory(bytes float64) Option { return optFunc(func(o *callOptions) { o.res()["memory"] = bytes }) }

// Resources sets custom resources (may be fractional).
func Resources(r map[string]float64) Option {
	return optFunc(func(o *callOptions) {
		for k, v := range r {
			o.res()[k] = v
		}
	})
}

// LabelSelector keeps a task or actor to the nodes whose labels match, as
// Ray's label_selector: each key names a node label and its value is "v"
// (the label is v), "!v" (it is not), "in(a,b)" (one of them) or "!in(a,b)"
// (none of them). Nodes get labels from `goray start --labels` (on
// Kubernetes, a group's labels or rayStartParams labels); every node has
// ray.io/node-id. With no matching node the call waits, as one asking for
// more than any node has. It combines with SchedulingSpread and
// NodeAffinity, not with a placement group.
func LabelSelector(sel map[string]string) Option {
	return optFunc(func(o *callOptions) {
		if o.labelSelector == nil {
			o.labelSelector = map[string]string{}
		}
		for k, v := range sel {
			o.labelSelector[k] = v
		}
	})
}

// EnvVars sets environment variables for the task's or actor's worker
// process, as Ray's runtime_env={"env_vars": {...}}: it runs in a worker
// started with them (workers are pooled by their variables, so the first
// such call on a node starts a process). The tasks and actors it submits
// inherit them unless they set their own, and a job's runtime_env
// env_vars reach all its tasks and actors the same way. Names starting
// with GORAY_ are goray's own and refused.
func EnvVars(vars map[string]string) Option {
	return optFunc(func(o *callOptions) {
		if o.envVars == nil {
			o.envVars = map[string]string{}
		}
		for k, v := range vars {
			o.envVars[k] = v
		}
	})
}

// finish checks the options that can be wrong and folds the label
// selector into the scheduling strategy.
func (o *callOptions) finish() error {
	if err := workerenv.ValidateTaskEnvVars(o.envVars); err != nil {
		return err
	}
	if err := o.checkLightweight(); err != nil {
		return err
	}
	if len(o.labelSelector) == 0 {
		return nil
	}
	if err := scheduler.Selector(o.labelSelector).Validate(); err != nil {
		return err
	}
	st := &rpcpb.SchedulingStrategy{}
	if o.strategy != nil {
		if o.strategy.Kind == rpcpb.SchedulingStrategy_PLACEMENT_GROUP {
			return errors.New("a label selector does not combine with a placement group (its bundles chose their nodes)")
		}
		st = proto.Clone(o.strategy).(*rpcpb.SchedulingStrategy)
	}
	st.LabelSelector = o.labelSelector
	o.strategy = st
	return nil
}

// checkLightweight refuses what a lightweight actor cannot have: its own
// resources, environment or placement group, or a life beyond its job's
// (its host is the job's).
func (o *callOptions) checkLightweight() error {
	if !o.lightweight {
		return nil
	}
	for k, v := range o.resources {
		if v != 0 {
			return fmt.Errorf("a lightweight actor holds no resources (asked for %s=%g); use a process actor", k, v)
		}
	}
	switch {
	case len(o.envVars) > 0:
		return errors.New("a lightweight actor runs in its job's environment: EnvVars needs a process actor")
	case o.detached:
		return errors.New("a lightweight actor lives in its job's host worker: it cannot be Detached")
	case o.strategy != nil && o.strategy.Kind == rpcpb.SchedulingStrategy_PLACEMENT_GROUP:
		return errors.New("a lightweight actor holds no resources: it cannot run in a placement group")
	}
	return nil
}

// MaxRetries sets how often a task is retried after a system failure (default 3, -1 = forever).
func MaxRetries(n int) Option { return optFunc(func(o *callOptions) { o.maxRetries = n }) }

// RetryExceptions also retries a task whose function returned an error
// (within MaxRetries), as Ray's retry_exceptions. Given error kinds, only
// an error of one of them retries, as Ray's list of exception classes: an
// error value matches as errors.Is does (a sentinel such as
// io.ErrUnexpectedEOF: the same type and message anywhere in the error's
// chain), a nil pointer of an error type as errors.As does
// ((*MyError)(nil): any error of that type in the chain). The task's worker
// decides, on the error itself.
func RetryExceptions(kinds ...error) Option {
	return optFunc(func(o *callOptions) {
		o.retryExceptions = true
		o.retryOn = nil
		for _, k := range kinds {
			if k != nil {
				o.retryOn = append(o.retryOn, core.ErrorKind(k))
			}
		}
	})
}

// MaxRestarts sets how often an actor is restarted after it dies (default 0, -1 = forever).
func MaxRestarts(n int) Option { return optFunc(func(o *callOptions) { o.maxRestarts = n }) }

// MaxTaskRetries sets how often an actor call is retried when the actor dies (default 0).
func MaxTaskRetries(n int) Option { return optFunc(func(o *callOptions) { o.maxTaskRetries = n }) }

// Idempotent marks an actor call whose result depends only on its
// arguments and the state the actor's constructor built: a result lost
// with its node is then made again by calling the method again (on the
// actor, restarted if it died), as a task's is rebuilt from lineage, up
// to the call's MaxTaskRetries times. Without it an actor call's lost
// result is lost for good (ObjectLostError), as in Ray: calling a
// stateful method again could change the actor.
func Idempotent() Option { return optFunc(func(o *callOptions) { o.idempotent = true }) }

// ConcurrencyGroups names groups of an actor's calls, each running up to
// its own number of calls at once, besides the default group that
// MaxConcurrency sizes (Ray's concurrency_groups): a call chooses its group
// with ConcurrencyGroup. A full group never holds up the calls of another,
// and a group's calls from one caller start in the order they were made.
// Names are 1 to 128 bytes; each group runs 1 to 10,000 calls; at most 64
// groups.
func ConcurrencyGroups(groups map[string]int) Option {
	return optFunc(func(o *callOptions) {
		if o.concurrencyGroups == nil {
			o.concurrencyGroups = map[string]int32{}
		}
		for k, v := range groups {
			o.concurrencyGroups[k] = int32(min(max(v, -1), 1<<30))
		}
	})
}

// ConcurrencyGroup runs an actor call in the named group of its actor
// (Ray's .options(concurrency_group=...)); a group the actor does not
// have fails the call.
func ConcurrencyGroup(name string) Option {
	return optFunc(func(o *callOptions) { o.concurrencyGroup = name })
}

// MaxConcurrency sets how many calls an actor runs at once (default 1).
func MaxConcurrency(n int) Option { return optFunc(func(o *callOptions) { o.maxConcurrency = n }) }

// Name names an actor (find it with GetActor).
func Name(name string) Option { return optFunc(func(o *callOptions) { o.name = name }) }

// Namespace sets a named actor's namespace.
func Namespace(ns string) Option { return optFunc(func(o *callOptions) { o.namespace = ns }) }

// Detached makes an actor outlive its job (until Kill or cluster teardown).
func Detached() Option { return optFunc(func(o *callOptions) { o.detached = true }) }

// Lightweight makes an actor a lightweight actor: an instance — its state
// and its own mailbox of calls — inside a host worker process that the
// job's lightweight actors on a node share, instead of a process of its
// own. Creating one starts no process (thousands per second; tens of
// thousands fit a node) and calls reach it as fast as a process actor's.
// The trade-off is isolation: the instances on a host share its memory,
// its crash fate (whatever kills the process — os.Exit, an unrecovered
// panic in a goroutine the actor started, the memory monitor — kills them
// all, each restarting per its MaxRestarts) and the job's environment. A
// panic in a method fails only that call; Kill ends only the instance. A
// lightweight actor holds no resources (Ray's default actors hold none
// while running), so NumCPUs, NumGPUs, Memory, Resources, EnvVars,
// Detached and InPlacementGroup are refused with it. See docs/sdk.md,
// "Lightweight actors".
func Lightweight() Option { return optFunc(func(o *callOptions) { o.lightweight = true }) }

// GetIfExists returns the existing actor of the same name instead of failing.
func GetIfExists() Option { return optFunc(func(o *callOptions) { o.getIfExists = true }) }

// GeneratorBackpressure pauses a generator task or method while n of its
// items are not yet consumed (taken by Next), as Ray's
// _generator_backpressure_num_objects. The default (0) never pauses.
func GeneratorBackpressure(n int) Option {
	return optFunc(func(o *callOptions) { o.backpressure = int64(n) })
}

// SchedulingSpread spreads tasks or actors over nodes.
func SchedulingSpread() Option {
	return optFunc(func(o *callOptions) {
		o.strategy = &rpcpb.SchedulingStrategy{Kind: rpcpb.SchedulingStrategy_SPREAD}
	})
}

// NodeAffinity runs on the given node; soft falls back to other nodes.
func NodeAffinity(nodeID string, soft bool) Option {
	return optFunc(func(o *callOptions) {
		o.strategy = &rpcpb.SchedulingStrategy{Kind: rpcpb.SchedulingStrategy_NODE_AFFINITY, NodeId: nodeID, Soft: soft}
	})
}

// InPlacementGroup runs in a bundle of the group (-1: any bundle).
func InPlacementGroup(pg *PlacementGroup, bundleIndex int) Option {
	return optFunc(func(o *callOptions) {
		o.strategy = &rpcpb.SchedulingStrategy{Kind: rpcpb.SchedulingStrategy_PLACEMENT_GROUP, PlacementGroupId: pg.ID, BundleIndex: int32(bundleIndex)}
	})
}

// Error types, for errors.As; see the runtime/core types they alias.
type (
	// TaskError is core.TaskError: a task failed with an error.
	TaskError = core.TaskError
	// ActorDiedError is core.ActorDiedError.
	ActorDiedError = core.ActorDiedError
	// ObjectLostError is core.ObjectLostError.
	ObjectLostError = core.ObjectLostError
	// OwnerDiedError is core.OwnerDiedError.
	OwnerDiedError = core.OwnerDiedError
	// GetTimeoutError is core.GetTimeoutError.
	GetTimeoutError = core.GetTimeoutError
	// TaskCancelledError is core.TaskCancelledError.
	TaskCancelledError = core.TaskCancelledError
	// WorkerCrashedError is core.WorkerCrashedError.
	WorkerCrashedError = core.WorkerCrashedError
	// UnschedulableError is core.UnschedulableError.
	UnschedulableError = core.UnschedulableError
	// OutOfMemoryError is core.OutOfMemoryError: the node's memory
	// monitor killed the task's worker (Ray's OutOfMemoryError).
	OutOfMemoryError = core.OutOfMemoryError
)
