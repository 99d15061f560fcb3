// Package ownership is the owner's bookkeeping for the objects and tasks it
// created, as a deterministic state machine: reference counts (handles held in
// this process, and pending tasks that take an object as argument), object
// values or locations, and the lineage (creating task specs) kept so a lost
// object can be rebuilt by re-running its task. Methods return Actions for the
// caller to carry out (free a stored copy, resubmit a task); the table does no I/O.
package ownership

import (
	"fmt"
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
)

// Action is a side effect for the caller.
type Action struct {
	Kind   ActionKind
	ID     string
	NodeID string
	TaskID string
}

func (a Action) String() string {
	switch a.Kind {
	case FreeStored:
		return fmt.Sprintf("free %s@%s", a.ID, a.NodeID)
	case Resubmit:
		return "resubmit " + a.TaskID
	default:
		return "fail " + a.ID
	}
}

// Entry is one owned object.
type Entry struct {
	ID        string
	TaskID    string // creating task; "" for Put objects (not reconstructable)
	Local     int    // handles held in this process
	Submitted int    // pending tasks that take it as an argument
	Lineage   int    // kept tasks (lineage) that take it as an argument
	Ready     bool
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
}

// New returns an empty table.
func New() *Table {
	return &Table{objs: map[string]*Entry{}, tasks: map[string]*Task{}}
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

// AddPut records a Put object with one local handle.
func (t *Table) AddPut(id string, loc Location) {
	e := &Entry{ID: id, Local: 1, Ready: true, Loc: loc}
	t.objs[id] = e
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
		return freeCopy(id, loc)
	}
	if e.Ready {
		if loc.NodeID != "" && loc.NodeID != e.Loc.NodeID {
			return freeCopy(id, loc)
		}
		return nil
	}
	e.Loc = loc
	e.Ready = true
	e.wake()
	if e.Local+e.Submitted == 0 {
		return t.dropValue(e)
	}
	return nil
}

func freeCopy(id string, loc Location) []Action {
	if loc.NodeID == "" {
		return nil
	}
	return []Action{{Kind: FreeStored, ID: id, NodeID: loc.NodeID}}
}

// AddReturn records a return the task made while running (an item a
// generator yielded), ready at loc, with one local handle (the stream
// holds it until the consumer takes the item). An id already recorded is
// refilled instead; for a task the table no longer keeps, a stored copy is
// freed.
func (t *Table) AddReturn(taskID, id string, loc Location) []Action {
	k, ok := t.tasks[taskID]
	if !ok {
		return freeCopy(id, loc)
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
	if e.Ready && e.Loc.Err == nil {
		e.unready()
	}
	return acts
}

func (t *Table) maybeRelease(e *Entry) []Action {
	if e.Local+e.Submitted > 0 {
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
	if e.Ready {
		e.unready()
	}
	k, ok := t.tasks[e.TaskID]
	if !ok || k.Running {
		if ok {
			return nil // already being rebuilt
		}
		return t.fail(e, lostErr)
	}
	if !t.Retry(k.ID) {
		var acts []Action
		for _, r := range k.Returns {
			if re, ok := t.objs[r]; ok && !re.Ready {
				acts = append(acts, t.fail(re, lostErr)...)
			}
		}
		return acts
	}
	k.Running = true
	var acts []Action
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
		if e.Ready {
			switch {
			case e.Loc.Err != nil:
				state = "error(" + e.Loc.Err.Error() + ")"
			case e.Loc.NodeID != "":
				state = "stored@" + e.Loc.NodeID
			default:
				state = "inline"
			}
		}
		fmt.Fprintf(&b, "obj %s task=%s local=%d submitted=%d lineage=%d %s\n", id, e.TaskID, e.Local, e.Submitted, e.Lineage, state)
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
