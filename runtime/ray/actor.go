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
//
// The handle that Remote returns for a non-detached actor is counted (Ray's
// actor reference counting, see docs/sdk.md): the actor lives while this
// process holds a handle to it (copies of one handle are one handle), a
// value or a pending call carries one, or another process it was passed to
// still holds its copy; then it ends, after the calls made through its
// handles finished, with the death cause "all references to the actor were
// removed". Release drops a handle now; otherwise the garbage collector
// does once no copy is reachable. Handles of detached actors, and those
// GetActor and get-if-exists return for an actor another process created,
// are not counted: the actor's own handles decide.
type ActorHandle[S any] struct {
	ID             string
	maxTaskRetries int
	// h counts this handle at the actor's owner (nil: not counted).
	h *core.Handle
}

// Release drops this handle now instead of when the garbage collector finds
// it unreachable. Copies of a handle are one handle: none of them may be
// used after Release (calls through it fail with ErrReleasedRef). On a
// handle that is not counted (see ActorHandle) it does nothing.
func (h ActorHandle[S]) Release() { h.h.Release() }

// actorHandle is the count of an actor's handle, found inside values by
// the SDK's encoding like a Ref's handle (refs.go).
func (h ActorHandle[S]) actorHandle() *core.Handle { return h.h }

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
// Namespace, Detached, GetIfExists, Lightweight, scheduling).
func (c *ActorClass[S]) Remote(ctx context.Context, args ...any) (ActorHandle[S], error) {
	w, err := worker()
	if err != nil {
		return ActorHandle[S]{}, err
	}
	opts := new(callOptions)
	cargs, err := splitArgs(w, args, c.arity, opts, nil)
	if ae, ok := asArityError(err); ok {
		return ActorHandle[S]{}, fmt.Errorf("actor %s takes %d constructor arguments, got %d", c.name, ae.want, ae.got)
	}
	if err != nil {
		return ActorHandle[S]{}, fmt.Errorf("actor %s: %w", c.name, err)
	}
	info, err := w.NewActorInfo(ctx, c.name, cargs, core.ActorOptions{Resources: opts.resources, MaxRestarts: opts.maxRestarts,
		MaxConcurrency: opts.maxConcurrency, Name: opts.name, Namespace: opts.namespace, Detached: opts.detached,
		GetIfExists: opts.getIfExists, Strategy: opts.strategy, EnvVars: opts.envVars, ConcurrencyGroups: opts.concurrencyGroups,
		Lightweight: opts.lightweight})
	if err != nil {
		return ActorHandle[S]{}, err
	}
	h := ActorHandle[S]{ID: info.ActorId, maxTaskRetries: opts.maxTaskRetries}
	// This process owns the actor it created (not one get-if-exists found):
	// its handles are counted here unless it is detached.
	if !info.IsDetached && info.OwnerAddress == w.Address() {
		h.h = w.OwnActor(info.ActorId)
	}
	return h, nil
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
	var buf [2]core.Arg
	w, cargs, opts, retries, err := prepareCall(m.name, m.arity, h.maxTaskRetries, h.h, args, buf[:0])
	if err != nil {
		return Ref[R]{err: err}
	}
	return Ref[R]{h: w.SubmitActorTask(h.ID, m.name, cargs, retries, opts.rebuilds(retries), opts.actorCall(ctx))}
}

// actorCall is the core's view of an actor call made from ctx: the task
// it is made from and its concurrency group.
func (o *callOptions) actorCall(ctx context.Context) core.CallOptions {
	return core.CallOptions{Parent: core.ParentTask(ctx), Group: o.concurrencyGroup, Actor: o.actor}
}

// rebuilds is how often an actor call's lost result may be made again:
// its retries if it is Idempotent, else never.
func (o *callOptions) rebuilds(retries int) int {
	if o.idempotent {
		return retries
	}
	return 0
}

// prepareCall checks and encodes an actor call's arguments (into buf's
// memory when it has room) and names the actor's handle ah for the call to
// hold (when counted: opts.actor, held by the core from the submission);
// retries is the call's MaxTaskRetries, else the handle's.
func prepareCall(name string, arity, handleRetries int, ah *core.Handle, args []any, buf []core.Arg) (w *core.Worker, cargs []core.Arg, opts callOptions, retries int, err error) {
	w, err = worker()
	if err != nil {
		return nil, nil, opts, 0, err
	}
	cargs, err = splitArgs(w, args, arity, &opts, buf)
	if ae, ok := asArityError(err); ok {
		return nil, nil, opts, 0, fmt.Errorf("%s takes %d arguments, got %d", name, ae.want, ae.got)
	}
	if err != nil {
		return nil, nil, opts, 0, fmt.Errorf("%s: %w", name, err)
	}
	if ah != nil {
		if ah.Released() {
			w.ReleaseArgs(cargs)
			return nil, nil, opts, 0, fmt.Errorf("%s: actor %s: %w", name, ah.ID, core.ErrReleasedRef)
		}
		opts.actor = ah // held by the call from its submission (core.CallOptions.Actor)
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
