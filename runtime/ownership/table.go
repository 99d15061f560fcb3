// Package ownership is the owner's bookkeeping for the objects and tasks it
// created, as a deterministic state machine: reference counts (handles held in
// this process, pending tasks that take an object as argument, other objects
// whose values contain a reference to it, and other processes borrowing it),
// object values or locations, and the lineage (creating task specs) kept so a
// lost object can be rebuilt by re-running its task. Methods return Actions for
// the caller to carry out (free a stored copy, resubmit a task, release a
// borrowed reference); the table does no I/O. Borrows (borrows.go) is the other
// side: what a process holds of objects other processes own.
//
// # Borrowing (Ray's borrower protocol)
//
// A reference can travel inside a value (an argument, a result, a put object)
// to another process, which then borrows the object: the owner keeps it while
// any borrower holds it. The invariant that makes this safe is that a
// reference is never in flight unprotected: whoever sends a value holding a
// reference keeps its own hold on the object until the receiver's hold is
// registered at the owner (Entry.Borrowers, or Entry.Contained when the
// receiver is the owner itself). Each way a value travels keeps it:
//
//   - Task and actor-call arguments: the submitter holds the references in
//     the arguments as long as it keeps the task (until it finished, longer
//     while it is lineage). The executor registers what it decoded before it
//     sends the task's reply (Borrows.Hold, then the registration's ack).
//   - Results: the executor, still holding the references it returns,
//     registers the submitter (the result's owner) as their borrower before it
//     replies; the submitter records them as contained in the result
//     (Location.Contains) and drops them when the result's value goes.
//   - Reading an object that contains references (Get of a put object or a
//     result): its owner holds the object while it registers the reader as
//     borrower of each contained reference, and answers only then; the reader
//     drops those registrations once it decoded the value (its handles took
//     holds of their own).
//
// A registration is only ever removed by the process it was made for, after
// the registration's own ack (or, for registrations others made for it, after
// their answer reached it), so a removal never overtakes its addition. The
// owner forgets a borrower that died (its process no longer answers).
//
// What this does not cover: an executor that registered a task's caller for
// the references in its result and died before its reply arrived leaves
// those registrations in place (the caller never learns of them) until the
// caller exits. Objects then stay longer than needed; none is freed early.
// TestNoWindowForArguments and TestNoWindowForResults play the two orders
// across tables.
package ownership

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Location is where a ready object's value lives.
type Location struct {
	// Inline holds small values (and errors) in the owner's memory.
	Inline []byte
	// NodeID is set when the value lives in that node's object store.
	NodeID string
	Size   int64
	// Err is non-nil when the object is a failure (task error, lost, ...).
	Err error
	// Contains are the references inside the value: the value holds each
	// (see the package doc) until it is dropped.
	Contains []Ref
}

// Ref names an object by id and owner address; Owner is "" for an object
// this table's process owns.
type Ref struct {
	ID    string
	Owner string
}

func (r Ref) String() string {
	if r.Owner == "" {
		return r.ID
	}
	return r.ID + "@" + r.Owner
}

// ActionKind says what the caller must do.
type ActionKind int

const (
	// FreeStored means: delete ID from NodeID's object store.
	FreeStored ActionKind = iota
	// Resubmit means: run TaskID again to rebuild its results.
	Resubmit
	// Fail means: the object is lost for good; its waiters get ErrLost.
	Fail
	// ReleaseBorrow means: drop one hold on ID, owned by the process at
	// Owner (a value that contained it is gone): Borrows.Release.
	ReleaseBorrow
	// ActorOutOfScope means: no handle to the actor ID is left here or at a
	// borrower, and no call made through one is pending; tell the GCS (a
	// non-detached actor then ends).
	ActorOutOfScope
)

// Action is a side effect for the caller.
type Action struct {
	Kind   ActionKind
	ID     string
	NodeID string
	TaskID string
	Owner  string
}

func (a Action) String() string {
	switch a.Kind {
	case FreeStored:
		return fmt.Sprintf("free %s@%s", a.ID, a.NodeID)
	case Resubmit:
		return "resubmit " + a.TaskID
	case ReleaseBorrow:
		return "release-borrow " + a.ID + "@" + a.Owner
	case ActorOutOfScope:
		return "actor-out-of-scope " + a.ID
	default:
		return "fail " + a.ID
	}
}

// Entry is one owned object.
type Entry struct {
	ID     string
	TaskID string // creating task; "" for Put objects (not reconstructable)
	// The counts are int32 and the flags side by side: an owner holds
	// an entry per live object (a million in the scale envelope), and
	// this keeps one in the allocator's 160-byte class.
	Local     int32 // handles held in this process
	Submitted int32 // pending tasks that take it as an argument
	Lineage   int32 // kept tasks (lineage) that take it as an argument
	// Contained counts holds on the object for this process's own values
	// and reads: owned objects whose values contain a reference to it, and
	// registrations made for this process (see the package doc).
	Contained int32
	Ready     bool
	// Actor marks the entry of an actor this process created (AddActor):
	// it counts the actor's handles like an object's references, and its
	// release is an ActorOutOfScope action.
	Actor bool
	// Borrowers counts, by address, the registrations of other processes
	// holding a reference to it.
	Borrowers map[string]int
	Loc       Location
	// done is made by the first Done while the object is not ready (most
	// entries are never waited on: a queued task's entry without it is
	// a sixth smaller) and closed when it becomes ready.
	done chan struct{}
}

// closedDone is the Done of a ready entry nobody waited on.
var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done is closed when the object becomes ready (value, location or error).
// Like the rest of the table, it is called under the owner's lock.
func (e *Entry) Done() <-chan struct{} {
	if e.done == nil {
		if e.Ready {
			return closedDone
		}
		e.done = make(chan struct{})
	}
	return e.done
}

// wake closes done for the waiters, if any (the object became ready or
// went away).
func (e *Entry) wake() {
	if e.done != nil && e.done != closedDone {
		close(e.done)
	}
	e.done = closedDone
}

// unready makes a ready entry wait again (its value dropped or lost).
func (e *Entry) unready() {
	e.Ready, e.Loc, e.done = false, Location{}, nil
}

// Task is a task whose spec is kept for retries and lineage.
type Task struct {
	ID          string
	Spec        any
	Args        []string
	Returns     []string
	RetriesLeft int // -1 = infinite
	Running     bool
	// live counts the returns still in the table: a generator's can be
	// many, and a scan of Returns on each release would be quadratic.
	live int
}

// Table holds an owner's objects and tasks. It is not safe for concurrent use.
type Table struct {
	objs  map[string]*Entry
	tasks map[string]*Task
	// borrowers counts, by address, the entries a borrower is registered
	// on (the liveness check asks only those).
	borrowers map[string]int
	// actors counts the actor entries (AddActor).
	actors int
}

// New returns an empty table.
func New() *Table {
	return &Table{objs: map[string]*Entry{}, tasks: map[string]*Task{}, borrowers: map[string]int{}}
}

// Get returns the entry for id.
func (t *Table) Get(id string) (*Entry, bool) {
	e, ok := t.objs[id]
	return e, ok
}

// Task returns the kept task.
func (t *Table) Task(id string) (*Task, bool) {
	k, ok := t.tasks[id]
	return k, ok
}

// Len is the number of entries (objects) held.
func (t *Table) Len() int { return len(t.objs) }

// AddPut records a Put object with one local handle. Its value holds the
// references it contains from now on: for objects this process owns the
// table counts that hold (Contained); the caller holds the borrowed ones
// (Borrows.Take) and gets ReleaseBorrow when the value goes.
func (t *Table) AddPut(id string, loc Location) {
	e := &Entry{ID: id, Local: 1, Ready: true, Loc: loc}
	t.objs[id] = e
	for _, r := range loc.Contains {
		if c, ok := t.objs[r.ID]; ok && r.Owner == "" {
			c.Contained++
		}
	}
}

// AddActor records one more handle to the actor id this process created:
// an entry counted like an object (local handles, values that contain a
// handle, borrowers, and calls that name it among their Args: pending, and
// kept as lineage) with no value; when nothing holds it any more the
// table forgets it and returns ActorOutOfScope. False when the entry was
// there already (the handle is one more local reference to it).
func (t *Table) AddActor(id string) bool {
	if e, ok := t.objs[id]; ok {
		e.Local++
		return false
	}
	t.objs[id] = &Entry{ID: id, Local: 1, Ready: true, Actor: true}
	t.actors++
	return true
}

// Actors is the number of actor entries: actors of this process with a
// handle still counted.
func (t *Table) Actors() int { return t.actors }

// AddContained adds n holds on id for this process's own values or reads
// (a registration another process made for this one, see the package
// doc). False when the table does not have id (freed already).
func (t *Table) AddContained(id string, n int) bool {
	e, ok := t.objs[id]
	if !ok || n <= 0 {
		return ok
	}
	// n comes from registrations other processes asked for: saturate
	// rather than wrap.
	e.Contained = int32(min(int64(e.Contained)+int64(n), math.MaxInt32))
	return true
}

// RemoveContained drops n of those holds (never more than there are).
func (t *Table) RemoveContained(id string, n int) []Action {
	e, ok := t.objs[id]
	if !ok {
		return nil
	}
	e.Contained -= int32(min(int64(n), int64(e.Contained)))
	return t.maybeRelease(e)
}

// AddBorrower registers n holds of the process at addr on id. False when
// the table does not have id: it was freed, and the borrower's reference
// is to a lost object.
func (t *Table) AddBorrower(id, addr string, n int) bool {
	e, ok := t.objs[id]
	if !ok || n <= 0 {
		return ok
	}
	if e.Borrowers == nil {
		e.Borrowers = map[string]int{}
	}
	if e.Borrowers[addr] == 0 {
		t.borrowers[addr]++
	}
	e.Borrowers[addr] += n
	return true
}

// RemoveBorrower drops n of addr's registrations on id (never more than
// there are); the object goes when nothing else holds it.
func (t *Table) RemoveBorrower(id, addr string, n int) []Action {
	e, ok := t.objs[id]
	if !ok || e.Borrowers[addr] == 0 {
		return nil
	}
	e.Borrowers[addr] -= min(n, e.Borrowers[addr])
	if e.Borrowers[addr] == 0 {
		t.dropBorrower(e, addr)
	}
	return t.maybeRelease(e)
}

func (t *Table) dropBorrower(e *Entry, addr string) {
	delete(e.Borrowers, addr)
	if len(e.Borrowers) == 0 {
		e.Borrowers = nil
	}
	if t.borrowers[addr]--; t.borrowers[addr] <= 0 {
		delete(t.borrowers, addr)
	}
}

// BorrowerDied drops every registration of the process at addr (it no
// longer answers: its references are gone with it).
func (t *Table) BorrowerDied(addr string) []Action {
	if t.borrowers[addr] == 0 {
		return nil
	}
	var ids []string
	for id, e := range t.objs {
		if e.Borrowers[addr] > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var acts []Action
	for _, id := range ids {
		e := t.objs[id]
		if e == nil || e.Borrowers[addr] == 0 {
			continue // released by an earlier one's actions
		}
		t.dropBorrower(e, addr)
		acts = append(acts, t.maybeRelease(e)...)
	}
	return acts
}

// BorrowerAddrs are the addresses of the processes registered as borrowers,
// sorted.
func (t *Table) BorrowerAddrs() []string {
	out := make([]string, 0, len(t.borrowers))
	for a := range t.borrowers {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// AddTask records a submitted task: its returns get one local handle each and
// its owned arguments one submitted reference each.
func (t *Table) AddTask(task *Task) {
	task.Running = true
	t.tasks[task.ID] = task
	for _, r := range task.Returns {
		t.objs[r] = &Entry{ID: r, TaskID: task.ID, Local: 1}
		task.live++
	}
	for _, a := range task.Args {
		if e, ok := t.objs[a]; ok {
			e.Submitted++
		}
	}
}

// Retry consumes one retry of the task; false when none is left.
func (t *Table) Retry(taskID string) bool {
	k, ok := t.tasks[taskID]
	if !ok {
		return false
	}
	if k.RetriesLeft == 0 {
		return false
	}
	if k.RetriesLeft > 0 {
		k.RetriesLeft--
	}
	return true
}

// Complete stores the results of a task and releases its argument references
// (they become lineage references while the results are referenced).
func (t *Table) Complete(taskID string, results map[string]Location) []Action {
	k, ok := t.tasks[taskID]
	if !ok {
		return nil
	}
	var acts []Action
	// In id order: the actions come out the same on every run.
	ids := make([]string, 0, len(results))
	for id := range results {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		acts = append(acts, t.Refill(id, results[id])...)
	}
	return t.finished(k, acts)
}

// CompleteOne is Complete of a task with one result, id at loc (no map
// to build for it).
func (t *Table) CompleteOne(taskID, id string, loc Location) []Action {
	k, ok := t.tasks[taskID]
	if !ok {
		return nil
	}
	return t.finished(k, t.Refill(id, loc))
}

// finished ends a completed task's run: its arguments become lineage.
func (t *Table) finished(k *Task, acts []Action) []Action {
	if k.Running {
		k.Running = false
		for _, a := range k.Args {
			if e, ok := t.objs[a]; ok {
				e.Submitted--
				e.Lineage++
				acts = append(acts, t.maybeRelease(e)...)
			}
		}
	}
	acts = append(acts, t.maybeDropTask(k)...)
	return acts
}

// Refill stores the value of one return without finishing its task: a
// streamed item re-made by a retry or a reconstruction, and each return of
// Complete. A return that is already ready keeps its value (a re-run
// rebuilding a lost sibling makes this one again): the new copy is freed
// unless it is the same stored object. A return nobody references any more
// has its new copy freed at once.
func (t *Table) Refill(id string, loc Location) []Action {
	e, ok := t.objs[id]
	if !ok {
		return t.freeCopy(id, loc)
	}
	if e.Ready {
		if loc.NodeID != "" && loc.NodeID != e.Loc.NodeID {
			return t.freeCopy(id, loc)
		}
		// The same stored copy, or an inline value kept already: only the
		// holds of the new value go.
		return t.releaseContains(loc.Contains)
	}
	e.Loc = loc
	e.Ready = true
	e.wake()
	if !held(e) {
		return t.dropValue(e)
	}
	return nil
}

// held says whether anything references e: handles here, pending tasks,
// values containing it, borrowers.
func held(e *Entry) bool {
	return e.Local+e.Submitted+e.Contained > 0 || len(e.Borrowers) > 0
}

// freeCopy drops a value the table does not keep: its stored copy and the
// references it contains.
func (t *Table) freeCopy(id string, loc Location) []Action {
	acts := t.releaseContains(loc.Contains)
	if loc.NodeID == "" {
		return acts
	}
	return append(acts, Action{Kind: FreeStored, ID: id, NodeID: loc.NodeID})
}

// ReleaseContains drops holds on refs taken for a value or a read (see
// AddContained): this process's own objects here, the others by the
// ReleaseBorrow actions returned.
func (t *Table) ReleaseContains(refs []Ref) []Action { return t.releaseContains(refs) }

// releaseContains drops the holds a value had on the references inside it.
func (t *Table) releaseContains(refs []Ref) []Action {
	var acts []Action
	for _, r := range refs {
		if r.Owner != "" {
			acts = append(acts, Action{Kind: ReleaseBorrow, ID: r.ID, Owner: r.Owner})
			continue
		}
		if e, ok := t.objs[r.ID]; ok && e.Contained > 0 {
			e.Contained--
			acts = append(acts, t.maybeRelease(e)...)
		}
	}
	return acts
}

// AddReturn records a return the task made while running (an item a
// generator yielded), ready at loc, with one local handle (the stream
// holds it until the consumer takes the item). An id already recorded is
// refilled instead; for a task the table no longer keeps, a stored copy is
// freed.
func (t *Table) AddReturn(taskID, id string, loc Location) []Action {
	k, ok := t.tasks[taskID]
	if !ok {
		return t.freeCopy(id, loc)
	}
	if _, ok := t.objs[id]; ok {
		return t.Refill(id, loc)
	}
	k.Returns = append(k.Returns, id)
	k.live++
	e := &Entry{ID: id, TaskID: taskID, Local: 1, Ready: true, Loc: loc}
	t.objs[id] = e
	return nil
}

// AddLocal adds a handle to id.
func (t *Table) AddLocal(id string) {
	if e, ok := t.objs[id]; ok {
		e.Local++
	}
}

// RemoveLocal drops a handle to id.
func (t *Table) RemoveLocal(id string) []Action {
	e, ok := t.objs[id]
	if !ok {
		return nil
	}
	e.Local--
	return t.maybeRelease(e)
}

func (t *Table) dropValue(e *Entry) []Action {
	var acts []Action
	if e.Loc.NodeID != "" {
		acts = append(acts, Action{Kind: FreeStored, ID: e.ID, NodeID: e.Loc.NodeID})
	}
	contains := e.Loc.Contains
	e.Loc.Contains = nil
	if e.Ready && e.Loc.Err == nil {
		e.unready()
	}
	return append(acts, t.releaseContains(contains)...)
}

func (t *Table) maybeRelease(e *Entry) []Action {
	if e.Actor {
		// An actor has no value: it goes when no handle, value, call or
		// kept call (lineage: an Idempotent call whose result may have
		// to be made again by calling it) holds it.
		if held(e) || e.Lineage > 0 {
			return nil
		}
		delete(t.objs, e.ID)
		t.actors--
		return []Action{{Kind: ActorOutOfScope, ID: e.ID}}
	}
	if held(e) {
		return nil
	}
	acts := t.dropValue(e)
	if e.Lineage > 0 && e.TaskID != "" {
		return acts
	}
	if !e.Ready {
		e.wake() // waiters wake and find it gone instead of waiting forever
	}
	delete(t.objs, e.ID)
	if k, ok := t.tasks[e.TaskID]; ok {
		k.live--
		acts = append(acts, t.maybeDropTask(k)...)
	}
	return acts
}

// maybeDropTask forgets a finished task once none of its returns is held.
func (t *Table) maybeDropTask(k *Task) []Action {
	if k.Running || k.live > 0 {
		return nil
	}
	delete(t.tasks, k.ID)
	var acts []Action
	for _, a := range k.Args {
		if e, ok := t.objs[a]; ok {
			e.Lineage--
			acts = append(acts, t.maybeRelease(e)...)
		}
	}
	return acts
}

// NodeDied marks every referenced object stored on node as lost and returns
// the tasks to resubmit (lineage reconstruction) or the objects that fail.
func (t *Table) NodeDied(node string) []Action {
	return t.LostOn(node, ErrLost)
}

// LostOn is NodeDied with the error stored for objects that cannot be
// rebuilt: every object on node is lost at once, so a task with several
// returns there (or a generator with several items) is re-run once.
func (t *Table) LostOn(node string, lostErr error) []Action {
	var ids []string
	for id, e := range t.objs {
		if e.Ready && e.Loc.NodeID == node && e.Loc.Err == nil {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var acts []Action
	for _, id := range ids {
		acts = append(acts, t.Lost(id, lostErr)...)
	}
	return acts
}

// ErrLost is the error stored for an object that cannot be rebuilt.
var ErrLost = fmt.Errorf("object lost")

// Lost reports that id's value is gone. If the creating task can run again it
// is resubmitted (and, recursively, the tasks of its lost arguments);
// otherwise the object fails with lostErr.
func (t *Table) Lost(id string, lostErr error) []Action {
	e, ok := t.objs[id]
	if !ok {
		return nil
	}
	var released []Action
	if e.Ready {
		// The value is gone, and with it its holds on what it contained
		// (a re-run's result registers its own).
		contains := e.Loc.Contains
		e.unready()
		released = t.releaseContains(contains)
	}
	k, ok := t.tasks[e.TaskID]
	if !ok || k.Running {
		if ok {
			return released // already being rebuilt
		}
		return append(released, t.fail(e, lostErr)...)
	}
	if !t.Retry(k.ID) {
		acts := released
		for _, r := range k.Returns {
			if re, ok := t.objs[r]; ok && !re.Ready {
				acts = append(acts, t.fail(re, lostErr)...)
			}
		}
		return acts
	}
	k.Running = true
	acts := released
	for _, a := range k.Args {
		if ae, ok := t.objs[a]; ok {
			ae.Submitted++
			ae.Lineage--
			if !ae.Ready {
				acts = append(acts, t.Lost(a, lostErr)...)
			}
		}
	}
	// The task's other returns keep their values: the re-run makes them
	// again, and Refill keeps the ready ones (and frees the new copies).
	return append(acts, Action{Kind: Resubmit, TaskID: k.ID})
}

func (t *Table) fail(e *Entry, err error) []Action {
	e.Loc = Location{Err: err}
	if !e.Ready {
		e.Ready = true
		e.wake()
	}
	return []Action{{Kind: Fail, ID: e.ID}}
}

// FailTask stores err as the result of every return of the task not ready
// yet (items a generator yielded before it failed keep their values) and
// releases its arguments (the task will not run again).
func (t *Table) FailTask(taskID string, err error) []Action {
	k, ok := t.tasks[taskID]
	if !ok {
		return nil
	}
	res := map[string]Location{}
	for _, r := range k.Returns {
		if e, ok := t.objs[r]; ok && !e.Ready {
			res[r] = Location{Err: err}
		}
	}
	k.RetriesLeft = 0
	return t.Complete(taskID, res)
}

// Dump prints the table deterministically (for scenario tests).
func (t *Table) Dump() string {
	var b strings.Builder
	ids := make([]string, 0, len(t.objs))
	for id := range t.objs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := t.objs[id]
		state := "pending"
		if e.Actor {
			state = "actor"
		} else if e.Ready {
			switch {
			case e.Loc.Err != nil:
				state = "error(" + e.Loc.Err.Error() + ")"
			case e.Loc.NodeID != "":
				state = "stored@" + e.Loc.NodeID
			default:
				state = "inline"
			}
		}
		fmt.Fprintf(&b, "obj %s task=%s local=%d submitted=%d lineage=%d", id, e.TaskID, e.Local, e.Submitted, e.Lineage)
		if e.Contained > 0 {
			fmt.Fprintf(&b, " contained=%d", e.Contained)
		}
		if len(e.Borrowers) > 0 {
			addrs := make([]string, 0, len(e.Borrowers))
			for a, n := range e.Borrowers {
				addrs = append(addrs, fmt.Sprintf("%s:%d", a, n))
			}
			sort.Strings(addrs)
			fmt.Fprintf(&b, " borrowers=%s", strings.Join(addrs, ","))
		}
		if len(e.Loc.Contains) > 0 {
			refs := make([]string, len(e.Loc.Contains))
			for i, r := range e.Loc.Contains {
				refs[i] = r.String()
			}
			fmt.Fprintf(&b, " contains=%s", strings.Join(refs, ","))
		}
		fmt.Fprintf(&b, " %s\n", state)
	}
	tids := make([]string, 0, len(t.tasks))
	for id := range t.tasks {
		tids = append(tids, id)
	}
	sort.Strings(tids)
	for _, id := range tids {
		k := t.tasks[id]
		fmt.Fprintf(&b, "task %s running=%v retries=%d\n", id, k.Running, k.RetriesLeft)
	}
	if b.Len() == 0 {
		return "empty\n"
	}
	return b.String()
}

// Each calls f for every object the table holds, in no order, until f
// returns false.
func (t *Table) Each(f func(*Entry) bool) {
	for _, e := range t.objs {
		if !f(e) {
			return
		}
	}
}
