// Package actors is the GCS's actor directory as a deterministic state machine:
// registration (named actors in namespaces, get-if-exists, detached), the
// lifecycle PENDING_CREATION → ALIVE → RESTARTING → ... → DEAD with
// MaxRestarts, and what to do when a worker, a node or the owning job goes
// away. It returns Effects (schedule the actor, kill a worker) for the GCS to
// carry out and does no I/O.
//
// A non-detached actor fate-shares with its owner, the process that created
// it (Ray's ownership): when the owner is a worker and that worker exits
// (WorkerDied) or its node dies (NodeDied, NodeReturned), the actor dies
// without a restart, whatever its MaxRestarts, with OwnerDiedCause. A
// driver's actors end with its job: when the driver ends it (JobFinished),
// or when the GCS finds the driver dead without having ended it
// (DriverDied, also with OwnerDiedCause).
//
// A lightweight actor (Actor.Lightweight) is an instance inside a host
// worker that its job's other lightweight actors on the node share: its
// WorkerID is the host's, so the host's death fails all its instances
// (WorkerDied), while ray.Kill and the job's end stop only the instance
// (KillInstance), never the host.
package actors

import (
	"fmt"
	"net"
	"sort"
	"strings"
)

// State of an actor, as Ray names them.
type State int

const (
	PendingCreation State = iota
	Alive
	Restarting
	Dead
)

func (s State) String() string {
	return [...]string{"PENDING_CREATION", "ALIVE", "RESTARTING", "DEAD"}[s]
}

// Actor is one directory entry.
type Actor struct {
	ID        string
	Class     string
	Name      string
	Namespace string
	JobID     string
	Detached  bool
	// Owner is the address of the process that created the actor (its
	// handles are counted there; see OutOfScope).
	Owner string
	// OwnerWorker and OwnerNode are the owner's worker id and the node
	// that started it, when the owner is a worker ("" for a driver): the
	// actor dies with that worker or node unless it is detached.
	OwnerWorker string
	OwnerNode   string
	MaxRestarts int // -1 = infinite
	NumRestarts int
	State       State
	NodeID      string
	WorkerID    string
	Address     string
	DeathCause  string
	// PID is the worker process's (state API; not stored).
	PID int
	// Lightweight: an instance in a shared host worker (WorkerID is the
	// host's); killing it must not kill the worker.
	Lightweight bool
	// Spec is the creation spec, opaque to the directory.
	Spec any
}

// EffectKind says what the GCS must do.
type EffectKind int

const (
	// Schedule means: find a node and worker and run the constructor.
	Schedule EffectKind = iota
	// KillWorker means: stop WorkerID on NodeID.
	KillWorker
	// Changed means: the actor's state changed; wake waiters.
	Changed
	// KillInstance means: end lightweight actor ActorID's instance in its
	// host WorkerID on NodeID, leaving the host and its other instances.
	KillInstance
)

// Effect is a side effect for the caller.
type Effect struct {
	Kind     EffectKind
	ActorID  string
	NodeID   string
	WorkerID string
}

func (e Effect) String() string {
	switch e.Kind {
	case Schedule:
		return "schedule " + e.ActorID
	case KillWorker:
		return fmt.Sprintf("kill-worker %s@%s (%s)", e.WorkerID, e.NodeID, e.ActorID)
	case KillInstance:
		return fmt.Sprintf("kill-instance %s in %s@%s", e.ActorID, e.WorkerID, e.NodeID)
	default:
		return "changed " + e.ActorID
	}
}

// Directory is the set of actors. Not safe for concurrent use.
type Directory struct {
	actors map[string]*Actor
	names  map[string]string // namespace/name -> id
}

// NewDirectory returns an empty directory.
func NewDirectory() *Directory {
	return &Directory{actors: map[string]*Actor{}, names: map[string]string{}}
}

func nameKey(ns, name string) string { return ns + "/" + name }

// Get returns an actor by id.
func (d *Directory) Get(id string) (*Actor, bool) {
	a, ok := d.actors[id]
	return a, ok
}

// Lookup finds a live named actor.
func (d *Directory) Lookup(namespace, name string) (*Actor, bool) {
	id, ok := d.names[nameKey(namespace, name)]
	if !ok {
		return nil, false
	}
	return d.actors[id], true
}

// All lists actors sorted by id.
func (d *Directory) All() []*Actor {
	out := make([]*Actor, 0, len(d.actors))
	for _, a := range d.actors {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Register adds a new actor. A taken name is an error unless getIfExists, in
// which case the existing actor is returned.
func (d *Directory) Register(a *Actor, getIfExists bool) (*Actor, []Effect, error) {
	if a.Name != "" {
		if id, ok := d.names[nameKey(a.Namespace, a.Name)]; ok {
			if getIfExists {
				return d.actors[id], nil, nil
			}
			return nil, nil, fmt.Errorf("actor name %q already taken in namespace %q", a.Name, a.Namespace)
		}
		d.names[nameKey(a.Namespace, a.Name)] = a.ID
	}
	a.State = PendingCreation
	d.actors[a.ID] = a
	return a, []Effect{{Kind: Schedule, ActorID: a.ID}}, nil
}

// Created records that the constructor finished on a worker.
func (d *Directory) Created(id, node, worker, address string) []Effect {
	a, ok := d.actors[id]
	if !ok || a.State == Dead {
		// Killed while being created: stop the worker we just started
		// (the instance only, for a lightweight actor).
		kind := KillWorker
		if ok && a.Lightweight {
			kind = KillInstance
		}
		return []Effect{{Kind: kind, ActorID: id, NodeID: node, WorkerID: worker}}
	}
	a.State, a.NodeID, a.WorkerID, a.Address = Alive, node, worker, address
	return []Effect{{Kind: Changed, ActorID: id}}
}

// CreationFailed records that the constructor returned an error: the actor is dead.
func (d *Directory) CreationFailed(id, cause string) []Effect {
	a, ok := d.actors[id]
	if !ok {
		return nil
	}
	return d.die(a, "constructor failed: "+cause)
}

func (d *Directory) die(a *Actor, cause string) []Effect {
	if a.State == Dead {
		return nil
	}
	a.State, a.DeathCause, a.Address = Dead, cause, ""
	if a.Name != "" && d.names[nameKey(a.Namespace, a.Name)] == a.ID {
		delete(d.names, nameKey(a.Namespace, a.Name))
	}
	return []Effect{{Kind: Changed, ActorID: a.ID}}
}

// failed handles the loss of the actor's process: restart if allowed, else die.
func (d *Directory) failed(a *Actor, cause string) []Effect {
	if a.State == Dead {
		return nil
	}
	if a.State == PendingCreation && a.WorkerID == "" {
		return nil // not placed yet; its scheduling will be retried
	}
	if a.MaxRestarts == -1 || a.NumRestarts < a.MaxRestarts {
		a.NumRestarts++
		a.State, a.NodeID, a.WorkerID, a.Address = Restarting, "", "", ""
		return []Effect{{Kind: Changed, ActorID: a.ID}, {Kind: Schedule, ActorID: a.ID}}
	}
	return d.die(a, cause)
}

// Placed records the worker that is running the constructor.
func (d *Directory) Placed(id, node, worker string) {
	if a, ok := d.actors[id]; ok && a.State != Dead {
		a.NodeID, a.WorkerID = node, worker
	}
}

// WorkerDied handles a worker process exiting: the actors it ran fail
// (restarting if they may), and the non-detached actors it owned die.
func (d *Directory) WorkerDied(worker, cause string) []Effect {
	if worker == "" {
		return nil // names no worker (a driver's, an unplaced actor's)
	}
	var effs []Effect
	for _, a := range d.All() {
		if a.OwnerWorker == worker {
			// First: one running in the same worker (a lightweight
			// actor's instance in its owner's host) must not restart.
			effs = append(effs, d.ownerDied(a, a.WorkerID != worker, "its worker process exited: "+cause)...)
		}
	}
	for _, a := range d.All() {
		if a.WorkerID == worker && a.State != Dead {
			effs = append(effs, d.failed(a, "worker died: "+cause)...)
		}
	}
	return effs
}

// OwnerDiedCause begins the death cause of an actor whose owner died (Ray's
// words); the rest names the owner and how it ended.
const OwnerDiedCause = "The actor is dead because its owner has died"

// ownerDied ends a non-detached actor whose owner is gone: no restart and,
// with kill (its worker may still run), its worker stopped (its instance,
// for a lightweight actor).
func (d *Directory) ownerDied(a *Actor, kill bool, how string) []Effect {
	if a.Detached || a.State == Dead {
		return nil
	}
	var effs []Effect
	if kill && a.WorkerID != "" {
		effs = append(effs, a.killEffect())
	}
	cause := fmt.Sprintf("%s. Owner Id: %s Owner Ip address: %s Owner node: %s Owner exit: %s",
		OwnerDiedCause, a.OwnerWorker, hostOf(a.Owner), a.OwnerNode, how)
	return append(effs, d.die(a, cause)...)
}

// NodeDied handles a node going away. An actor whose constructor was
// running there (being created or restarted) spends no restart: the node's
// death is not the actor's failure, and its scheduling — which placed it
// there and sees the constructor's call fail — places it again.
//
// The non-detached actors owned by a worker of the node die with it
// (without a restart, wherever they run), before anything is restarted.
func (d *Directory) NodeDied(node string) []Effect {
	var effs []Effect
	for _, a := range d.All() {
		if node != "" && a.OwnerNode == node && a.OwnerWorker != "" {
			effs = append(effs, d.ownerDied(a, a.NodeID != node, "its node "+node+" died")...)
		}
	}
	for _, a := range d.All() {
		if a.NodeID != node || a.State == Dead {
			continue
		}
		if a.State == PendingCreation || a.State == Restarting {
			a.NodeID, a.WorkerID, a.Address = "", "", ""
			continue
		}
		effs = append(effs, d.failed(a, "node "+node+" died")...)
	}
	return effs
}

// NodeReturned handles a node registering again with a GCS restarted on its
// storage: an actor restored ALIVE on that node whose worker the node no
// longer runs (it exited while the GCS was down, so its failure report was
// lost) fails now — restarting if it may — instead of keeping a dead address.
// A non-detached actor whose owner was a worker of that node that the node
// no longer runs dies, as its owner did.
func (d *Directory) NodeReturned(node string, workers map[string]bool) []Effect {
	var effs []Effect
	for _, a := range d.All() {
		if node != "" && a.OwnerNode == node && a.OwnerWorker != "" && !workers[a.OwnerWorker] {
			gone := a.NodeID == node && !workers[a.WorkerID]
			effs = append(effs, d.ownerDied(a, !gone, "its worker was gone when node "+node+" registered again after a GCS restart")...)
		}
	}
	for _, a := range d.All() {
		if a.NodeID == node && a.State == Alive && !workers[a.WorkerID] {
			effs = append(effs, d.failed(a, "its worker was gone when node "+node+" registered again after a GCS restart")...)
		}
	}
	return effs
}

// Kill stops an actor (ray.Kill). With noRestart it dies; otherwise it
// restarts if it has restarts left.
func (d *Directory) Kill(id string, noRestart bool) ([]Effect, error) {
	a, ok := d.actors[id]
	if !ok {
		return nil, fmt.Errorf("no actor %s", id)
	}
	var effs []Effect
	if a.WorkerID != "" {
		effs = append(effs, a.killEffect())
	}
	if noRestart {
		return append(effs, d.die(a, "killed by ray.Kill")...), nil
	}
	return append(effs, d.failed(a, "killed by ray.Kill")...), nil
}

// OutOfScopeCause is the death cause of an actor whose owner released its
// last handle (Ray's words).
const OutOfScopeCause = "all references to the actor were removed"

// OutOfScope handles the owner's report that no handle to the actor is left
// (its own, and those of the processes it lent one to) and no call made
// through one is pending: a non-detached actor dies without a restart and
// its worker is stopped. A detached actor, an unknown or a dead one is left
// as it is (the report of a process that is not the owner changes nothing
// either: owner is the reporter's address, checked against the actor's; an
// actor registered without an owner has none that could report).
func (d *Directory) OutOfScope(id, owner string) []Effect {
	a, ok := d.actors[id]
	if !ok || a.Detached || a.State == Dead || a.Owner == "" || a.Owner != owner {
		return nil
	}
	var effs []Effect
	if a.WorkerID != "" {
		effs = append(effs, a.killEffect()) // a lightweight actor's instance only
	}
	return append(effs, d.die(a, OutOfScopeCause)...)
}

// killEffect stops the actor where it runs: its worker, or its instance
// in its host for a lightweight actor.
func (a *Actor) killEffect() Effect {
	kind := KillWorker
	if a.Lightweight {
		kind = KillInstance
	}
	return Effect{Kind: kind, ActorID: a.ID, NodeID: a.NodeID, WorkerID: a.WorkerID}
}

// JobFinished kills the job's actors that are not detached.
func (d *Directory) JobFinished(job string) []Effect {
	var effs []Effect
	for _, a := range d.All() {
		if a.JobID == job && !a.Detached && a.State != Dead {
			if a.WorkerID != "" {
				effs = append(effs, a.killEffect())
			}
			effs = append(effs, d.die(a, "owner job "+job+" finished")...)
		}
	}
	return effs
}

// DriverDied ends job's non-detached actors once its driver, at address
// driver, died without ending the job (killed, crashed, or returned from
// main without ray.Shutdown). The actors the driver created die with
// OwnerDiedCause naming it; the job's other ones (created by its workers)
// die as the job ends. Detached actors live on, as with JobFinished.
func (d *Directory) DriverDied(job, driver, how string) []Effect {
	var effs []Effect
	for _, a := range d.All() {
		if a.JobID != job || a.Detached || a.State == Dead {
			continue
		}
		if a.WorkerID != "" {
			effs = append(effs, a.killEffect())
		}
		cause := "owner job " + job + " finished: its driver died (" + how + ")"
		if a.Owner == driver && a.OwnerWorker == "" {
			cause = fmt.Sprintf("%s. Owner Id: driver of job %s Owner Ip address: %s Owner exit: %s",
				OwnerDiedCause, job, hostOf(driver), how)
		}
		effs = append(effs, d.die(a, cause)...)
	}
	return effs
}

// hostOf is the host part of a host:port address (addr itself otherwise).
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// Dump prints the directory (for scenario tests).
func (d *Directory) Dump() string {
	var b strings.Builder
	for _, a := range d.All() {
		fmt.Fprintf(&b, "%s %s restarts=%d/%d", a.ID, a.State, a.NumRestarts, a.MaxRestarts)
		if a.Lightweight {
			b.WriteString(" lightweight")
		}
		if a.Name != "" {
			fmt.Fprintf(&b, " name=%s/%s", a.Namespace, a.Name)
		}
		if a.WorkerID != "" {
			fmt.Fprintf(&b, " worker=%s@%s", a.WorkerID, a.NodeID)
		}
		if a.DeathCause != "" {
			fmt.Fprintf(&b, " cause=%q", a.DeathCause)
		}
		b.WriteString("\n")
	}
	if b.Len() == 0 {
		return "empty\n"
	}
	return b.String()
}
