package ray

import (
	"context"
	"fmt"

	"github.com/goray-dev/goray/runtime/core"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// ActorClass is a registered actor type whose state is *S.
type ActorClass[S any] struct {
	name  string
	arity int
}

// ActorHandle names a live actor of class S.
type ActorHandle[S any] struct {
	ID             string
	maxTaskRetries int
}

// Actor registers an actor class built by a constructor without arguments.
func Actor[S any](name string, ctor func(ctx context.Context) (*S, error)) *ActorClass[S] {
	core.RegisterActor(name, func(ctx context.Context, args [][]byte) (any, error) { return ctor(ctx) })
	return &ActorClass[S]{name: name}
}

// Actor1 registers an actor class whose constructor takes one argument.
func Actor1[A, S any](name string, ctor func(ctx context.Context, a A) (*S, error)) *ActorClass[S] {
	core.RegisterActor(name, func(ctx context.Context, args [][]byte) (any, error) {
		a, err := decodeArg[A](args, 0)
		if err != nil {
			return nil, err
		}
		return ctor(ctx, a)
	})
	return &ActorClass[S]{name: name, arity: 1}
}

// Remote creates an actor. Arguments are constructor arguments mixed with
// Options (NumCPUs, MaxRestarts, MaxTaskRetries, MaxConcurrency, Name,
// Namespace, Detached, GetIfExists, scheduling).
func (c *ActorClass[S]) Remote(ctx context.Context, args ...any) (ActorHandle[S], error) {
	w, err := worker()
	if err != nil {
		return ActorHandle[S]{}, err
	}
	cargs, opts, err := splitArgs(args, c.arity)
	if ae, ok := asArityError(err); ok {
		return ActorHandle[S]{}, fmt.Errorf("actor %s takes %d constructor arguments, got %d", c.name, ae.want, ae.got)
	}
	if err != nil {
		return ActorHandle[S]{}, fmt.Errorf("actor %s: %w", c.name, err)
	}
	id, err := w.NewActor(ctx, c.name, cargs, core.ActorOptions{Resources: opts.resources, MaxRestarts: opts.maxRestarts,
		MaxConcurrency: opts.maxConcurrency, Name: opts.name, Namespace: opts.namespace, Detached: opts.detached,
		GetIfExists: opts.getIfExists, Strategy: opts.strategy, EnvVars: opts.envVars, ConcurrencyGroups: opts.concurrencyGroups})
	if err != nil {
		return ActorHandle[S]{}, err
	}
	return ActorHandle[S]{ID: id, maxTaskRetries: opts.maxTaskRetries}, nil
}

// MethodFunc is a registered method of actor class S returning R.
type MethodFunc[S, R any] struct {
	name  string
	arity int
}

// Method0 registers a method without arguments.
func Method0[S, R any](c *ActorClass[S], name string, fn func(s *S, ctx context.Context) (R, error)) *MethodFunc[S, R] {
	full := c.name + "." + name
	registerMethod(full, func(ctx context.Context, inst any, args [][]byte) (R, error) { return fn(inst.(*S), ctx) })
	return &MethodFunc[S, R]{name: full}
}

// Method registers a one-argument method.
func Method[S, A, R any](c *ActorClass[S], name string, fn func(s *S, ctx context.Context, a A) (R, error)) *MethodFunc[S, R] {
	full := c.name + "." + name
	registerMethod(full, func(ctx context.Context, inst any, args [][]byte) (R, error) {
		a, err := decodeArg[A](args, 0)
		if err != nil {
			var zero R
			return zero, err
		}
		return fn(inst.(*S), ctx, a)
	})
	return &MethodFunc[S, R]{name: full, arity: 1}
}

// Remote calls the method on an actor. Calls from one caller run in order.
func (m *MethodFunc[S, R]) Remote(ctx context.Context, h ActorHandle[S], args ...any) Ref[R] {
	w, cargs, opts, retries, err := prepareCall(m.name, m.arity, h.maxTaskRetries, args)
	if err != nil {
		return Ref[R]{err: err}
	}
	return Ref[R]{h: w.SubmitActorTask(h.ID, m.name, cargs, retries, opts.rebuilds(retries), opts.actorCall(ctx))}
}

// actorCall is the core's view of an actor call made from ctx: the task
// it is made from and its concurrency group.
func (o *callOptions) actorCall(ctx context.Context) core.CallOptions {
	return core.CallOptions{Parent: core.ParentTask(ctx), Group: o.concurrencyGroup}
}

// rebuilds is how often an actor call's lost result may be made again:
// its retries if it is Idempotent, else never.
func (o *callOptions) rebuilds(retries int) int {
	if o.idempotent {
		return retries
	}
	return 0
}

// prepareCall checks and encodes an actor call's arguments; retries is the
// call's MaxTaskRetries, else the handle's.
func prepareCall(name string, arity, handleRetries int, args []any) (w *core.Worker, cargs []core.Arg, opts *callOptions, retries int, err error) {
	w, err = worker()
	if err != nil {
		return nil, nil, nil, 0, err
	}
	cargs, opts, err = splitArgs(args, arity)
	if ae, ok := asArityError(err); ok {
		return nil, nil, nil, 0, fmt.Errorf("%s takes %d arguments, got %d", name, ae.want, ae.got)
	}
	if err != nil {
		return nil, nil, nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	retries = handleRetries
	if opts.maxTaskRetries != 0 {
		retries = opts.maxTaskRetries
	}
	return w, cargs, opts, retries, nil
}

// Kill kills an actor at once: its pending and running calls fail with
// ActorDiedError. With noRestart false it is restarted if it has restarts left.
func Kill[S any](ctx context.Context, h ActorHandle[S], noRestart bool) error {
	w, err := worker()
	if err != nil {
		return err
	}
	return w.KillActor(ctx, h.ID, noRestart)
}

// GetActor finds a named actor of class c (namespace "" = this job's).
func GetActor[S any](ctx context.Context, c *ActorClass[S], name, namespace string) (ActorHandle[S], error) {
	w, err := worker()
	if err != nil {
		return ActorHandle[S]{}, err
	}
	info, err := w.LookupActor(ctx, name, namespace)
	if err != nil {
		return ActorHandle[S]{}, err
	}
	if info.ClassName != c.name {
		return ActorHandle[S]{}, fmt.Errorf("actor %q is a %s, not a %s", name, info.ClassName, c.name)
	}
	return ActorHandle[S]{ID: info.ActorId}, nil
}

// PlacementGroup is a set of resource bundles reserved together.
type PlacementGroup struct {
	ID       string
	Strategy string
}

// NewPlacementGroup reserves bundles with strategy PACK, SPREAD, STRICT_PACK
// or STRICT_SPREAD. Reservation is atomic and may wait for room; see Ready.
func NewPlacementGroup(ctx context.Context, bundles []map[string]float64, strategy string, opts ...Option) (*PlacementGroup, error) {
	w, err := worker()
	if err != nil {
		return nil, err
	}
	o := &callOptions{}
	for _, x := range opts {
		x.apply(o)
	}
	spec := &rpcpb.PlacementGroupSpec{Name: o.name, Strategy: strategy, JobId: w.JobID(), Detached: o.detached}
	for _, b := range bundles {
		spec.Bundles = append(spec.Bundles, &rpcpb.Bundle{Resources: b})
	}
	info, err := w.GCS().CreatePlacementGroup(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("create placement group: %w", err)
	}
	return &PlacementGroup{ID: info.PlacementGroupId, Strategy: strategy}, nil
}

// Ready waits until every bundle is reserved.
func (pg *PlacementGroup) Ready(ctx context.Context) error {
	w, err := worker()
	if err != nil {
		return err
	}
	info, err := w.GCS().GetPlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: pg.ID, Wait: true})
	if err != nil {
		return err
	}
	if info.State != "CREATED" {
		if ctx.Err() != nil {
			return &core.GetTimeoutError{ObjectID: pg.ID}
		}
		return fmt.Errorf("placement group %s is %s", pg.ID, info.State)
	}
	return nil
}

// BundleNodes lists the node of each bundle (after Ready).
func (pg *PlacementGroup) BundleNodes(ctx context.Context) ([]string, error) {
	w, err := worker()
	if err != nil {
		return nil, err
	}
	info, err := w.GCS().GetPlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: pg.ID})
	if err != nil {
		return nil, err
	}
	return info.BundleNodes, nil
}

// RemovePlacementGroup releases a group's bundles.
func RemovePlacementGroup(ctx context.Context, pg *PlacementGroup) error {
	w, err := worker()
	if err != nil {
		return err
	}
	_, err = w.GCS().RemovePlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: pg.ID})
	return err
}
