package ownership

import (
	"fmt"
	"sort"
	"strings"
)

// Borrows is a process's bookkeeping for the objects it holds references to
// but does not own (the borrower side of the protocol in the package doc),
// as a deterministic state machine. For each borrowed object it counts the
// holds in this process (handles, owned values containing a reference to it,
// references in transit while a read value is decoded) and the registrations
// at the owner this process must remove when the count reaches zero. Methods
// return BorrowActions for the caller to carry out; Borrows does no I/O. It
// is not safe for concurrent use.
type Borrows struct {
	m map[string]*Borrow
	// registering counts borrows whose Register is in flight: a task's
	// reply waits until none is (Flushed).
	registering int
}

// Borrow is one borrowed object.
type Borrow struct {
	ID    string
	Owner string
	// Count is the holds on it in this process.
	Count int
	// Regs is the registrations at the owner this process removes when
	// Count reaches zero (its own, and those others made for it).
	Regs int
	// Registering: this process's own Register is in flight.
	Registering bool
	// Lost: the owner did not have the object when asked to register it
	// (freed already) or did not answer: nothing is registered by that ask.
	Lost bool
}

// BorrowActionKind says what the caller must do.
type BorrowActionKind int

const (
	// Register means: register this process as borrower of ID at Owner, then
	// report the outcome with Registered.
	Register BorrowActionKind = iota
	// Unregister means: remove N registrations of this process on ID at Owner.
	Unregister
)

// BorrowAction is a side effect for the caller.
type BorrowAction struct {
	Kind  BorrowActionKind
	ID    string
	Owner string
	N     int
}

func (a BorrowAction) String() string {
	if a.Kind == Register {
		return fmt.Sprintf("register %s@%s", a.ID, a.Owner)
	}
	return fmt.Sprintf("unregister %s@%s x%d", a.ID, a.Owner, a.N)
}

// NewBorrows returns an empty borrow table.
func NewBorrows() *Borrows { return &Borrows{m: map[string]*Borrow{}} }

// Get returns the borrow of id.
func (b *Borrows) Get(id string) (*Borrow, bool) {
	x, ok := b.m[id]
	return x, ok
}

// Len is the number of borrowed objects.
func (b *Borrows) Len() int { return len(b.m) }

// Hold adds a hold on id (owned at owner) that nobody registered for this
// process: a reference decoded from a value it was sent inline (a task's
// argument). A first hold asks for a registration: the sender holds the
// object until this process's reply, which waits for it (Flushed).
func (b *Borrows) Hold(id, owner string) []BorrowAction {
	if x, ok := b.m[id]; ok {
		x.Count++
		return nil
	}
	b.m[id] = &Borrow{ID: id, Owner: owner, Count: 1, Registering: true}
	b.registering++
	return []BorrowAction{{Kind: Register, ID: id, Owner: owner}}
}

// Take adds a hold on an object this process already borrows (a handle it
// has is being copied into a value, a task's arguments, ...). False when it
// does not borrow id: the caller has no reference to copy.
func (b *Borrows) Take(id string) bool {
	x, ok := b.m[id]
	if ok {
		x.Count++
	}
	return ok
}

// Adopt adds a hold on id together with a registration another process made
// for this one at owner (the executor of its task registered it for a
// reference in the result; the owner of an object it read, for a reference
// in that object). The registration is removed with the last hold.
func (b *Borrows) Adopt(id, owner string) {
	x, ok := b.m[id]
	if !ok {
		x = &Borrow{ID: id, Owner: owner}
		b.m[id] = x
	}
	x.Count++
	x.Regs++
}

// Registered reports the outcome of a Register: ok, or the owner did not
// register it (the object was freed, or the owner is gone).
func (b *Borrows) Registered(id string, ok bool) []BorrowAction {
	x, found := b.m[id]
	if !found || !x.Registering {
		return nil
	}
	x.Registering = false
	b.registering--
	if ok {
		x.Regs++
	} else {
		x.Lost = true
	}
	return b.maybeDrop(x)
}

// Release drops a hold on id; the last one removes this process's
// registrations (once its own Register answered).
func (b *Borrows) Release(id string) []BorrowAction {
	x, ok := b.m[id]
	if !ok || x.Count == 0 {
		return nil
	}
	x.Count--
	return b.maybeDrop(x)
}

func (b *Borrows) maybeDrop(x *Borrow) []BorrowAction {
	if x.Count > 0 || x.Registering {
		return nil
	}
	delete(b.m, x.ID)
	if x.Regs == 0 {
		return nil
	}
	return []BorrowAction{{Kind: Unregister, ID: x.ID, Owner: x.Owner, N: x.Regs}}
}

// DropAll forgets every borrow (the process is shutting down) and returns
// the removals of its registrations, in id order. Registrations still in
// flight are not removed: their owners find this process gone.
func (b *Borrows) DropAll() []BorrowAction {
	ids := make([]string, 0, len(b.m))
	for id := range b.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var acts []BorrowAction
	for _, id := range ids {
		if x := b.m[id]; x.Regs > 0 {
			acts = append(acts, BorrowAction{Kind: Unregister, ID: id, Owner: x.Owner, N: x.Regs})
		}
	}
	b.m = map[string]*Borrow{}
	b.registering = 0
	return acts
}

// Flushed says whether no Register is in flight.
func (b *Borrows) Flushed() bool { return b.registering == 0 }

// Dump prints the table deterministically (for scenario tests).
func (b *Borrows) Dump() string {
	ids := make([]string, 0, len(b.m))
	for id := range b.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var s strings.Builder
	for _, id := range ids {
		x := b.m[id]
		fmt.Fprintf(&s, "borrow %s@%s count=%d regs=%d", id, x.Owner, x.Count, x.Regs)
		if x.Registering {
			s.WriteString(" registering")
		}
		if x.Lost {
			s.WriteString(" lost")
		}
		s.WriteByte('\n')
	}
	if s.Len() == 0 {
		return "empty\n"
	}
	return s.String()
}
