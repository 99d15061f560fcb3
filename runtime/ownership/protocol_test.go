package ownership

import (
	"slices"
	"testing"
)

// A process of the protocol: its owner table and its borrow table, and the
// address others know it by.
type proc struct {
	addr string
	tab  *Table
	bor  *Borrows
}

func newProc(addr string) *proc { return &proc{addr: addr, tab: New(), bor: NewBorrows()} }

// cluster delivers the actions of the tables as the core does, one message
// at a time in the order the test says, so the interleavings are explicit.
type cluster struct {
	procs map[string]*proc
	// freed are the stored copies freed, as "id@node".
	freed []string
	// inflight are registrations sent and not yet delivered: borrower -> ids.
	inflight map[string][]BorrowAction
}

func (c *cluster) do(p *proc, acts []Action) {
	for _, a := range acts {
		switch a.Kind {
		case FreeStored:
			c.freed = append(c.freed, a.ID+"@"+a.NodeID)
		case ReleaseBorrow:
			c.doBorrows(p, p.bor.Release(a.ID))
		}
	}
}

func (c *cluster) doBorrows(p *proc, acts []BorrowAction) {
	for _, a := range acts {
		switch a.Kind {
		case Register:
			c.inflight[p.addr] = append(c.inflight[p.addr], a)
		case Unregister:
			o := c.procs[a.Owner]
			c.do(o, o.tab.RemoveBorrower(a.ID, p.addr, a.N))
		}
	}
}

// deliver answers p's registrations in flight (the owner registers it,
// then p learns the answer).
func (c *cluster) deliver(p *proc) {
	regs := c.inflight[p.addr]
	delete(c.inflight, p.addr)
	for _, a := range regs {
		ok := c.procs[a.Owner].tab.AddBorrower(a.ID, p.addr, 1)
		c.doBorrows(p, p.bor.Registered(a.ID, ok))
	}
}

func (c *cluster) isFreed(id string) bool {
	return slices.ContainsFunc(c.freed, func(s string) bool { return s == id+"@n1" })
}

// TestNoWindowForArguments plays a Ref inside a task's argument: the
// submitter (the owner) drops its handle right after submitting; the
// executor decodes the Ref and keeps it. Whatever the order of the
// executor's registration and the task's completion at the owner, as long
// as the reply follows the registration's answer (the executor's flush),
// the object lives until the executor drops it.
func TestNoWindowForArguments(t *testing.T) {
	c := &cluster{procs: map[string]*proc{}, inflight: map[string][]BorrowAction{}}
	owner, exec := newProc("o"), newProc("e")
	c.procs["o"], c.procs["e"] = owner, exec
	owner.tab.AddPut("x", Location{NodeID: "n1"})
	owner.tab.AddLocal("x") // the task's hold on the Ref inside its argument
	c.do(owner, owner.tab.RemoveLocal("x"))
	// The executor decodes the Ref: it asks to be registered.
	c.doBorrows(exec, exec.bor.Hold("x", "o"))
	if exec.bor.Flushed() {
		t.Fatal("a registration in flight, and the executor's reply could go")
	}
	c.deliver(exec)
	if !exec.bor.Flushed() {
		t.Fatal("flushed stays false after the answer")
	}
	// Only now the reply: the owner drops the task's hold.
	c.do(owner, owner.tab.RemoveLocal("x"))
	if c.isFreed("x") {
		t.Fatal("x freed while the executor borrows it")
	}
	// The executor's handle goes: the registration is removed; x is freed.
	c.doBorrows(exec, exec.bor.Release("x"))
	if !c.isFreed("x") {
		t.Fatalf("x not freed after its last borrower dropped it: %s", owner.tab.Dump())
	}
}

// TestNoWindowForResults plays a Ref inside a task's result: the executor
// owns x, registers the caller as its borrower before replying, and drops
// its own handle after; the caller's result holds x until the result goes,
// and a Ref the caller decoded from it holds x after that.
func TestNoWindowForResults(t *testing.T) {
	c := &cluster{procs: map[string]*proc{}, inflight: map[string][]BorrowAction{}}
	exec, caller := newProc("e"), newProc("s")
	c.procs["e"], c.procs["s"] = exec, caller
	exec.tab.AddPut("x", Location{NodeID: "n1"})
	caller.tab.AddTask(&Task{ID: "t", Returns: []string{"r"}})
	// The executor registers the caller (registerFor), then drops its handle.
	if !exec.tab.AddBorrower("x", "s", 1) {
		t.Fatal("x unknown at its owner")
	}
	c.do(exec, exec.tab.RemoveLocal("x"))
	// The reply reaches the caller: it adopts the registration into the result.
	caller.bor.Adopt("x", "e")
	c.do(caller, caller.tab.Complete("t", map[string]Location{"r": {Inline: []byte("v"), Contains: []Ref{{ID: "x", Owner: "e"}}}}))
	if c.isFreed("x") {
		t.Fatal("x freed while the caller's result holds it")
	}
	// The caller decodes the result (a handle on x), then drops the result.
	if !caller.bor.Take("x") {
		t.Fatal("the result's hold on x is not a borrow")
	}
	c.do(caller, caller.tab.RemoveLocal("r"))
	if c.isFreed("x") {
		t.Fatal("x freed while a decoded Ref holds it")
	}
	c.doBorrows(caller, caller.bor.Release("x"))
	if !c.isFreed("x") {
		t.Fatalf("x not freed after the caller dropped it: %s", exec.tab.Dump())
	}
}
