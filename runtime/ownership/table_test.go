package ownership

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/internal/datadriven"
)

// TestScenarios drives the table from testdata scripts:
//
//	put id=x [node=n1]
//	actor id=a   (a handle to an actor this process created: AddActor)
//	submit task=t returns=r1 [args=x,y] [retries=3]
//	complete task=t [node=n1] [error=msg] [at=r1:n1,r2:inline]
//	  (all returns get node/error, or each the place at= gives it)
//	item task=t id=x [node=n1]   (a return made while running: a generator's item)
//	add-ref id=x / drop-ref id=x
//	node-died node=n1 / lost id=x / fail task=t
//	add-borrower id=x addr=b [n=1] / remove-borrower id=x addr=b [n=1] / borrower-died addr=b
//	add-contained id=x [n=1] / remove-contained id=x [n=1] / borrowers
//	show
//
// put and complete take contains=a,b@o: the value holds references to a
// (owned here) and b (owned at o).
func TestScenarios(t *testing.T) {
	for _, file := range []string{"testdata/refcount.txt", "testdata/lineage.txt", "testdata/returns.txt", "testdata/borrowers.txt", "testdata/actors.txt"} {
		t.Run(file, func(t *testing.T) {
			tab := New()
			acts := func(a []Action) string {
				var s []string
				for _, x := range a {
					s = append(s, x.String())
				}
				if len(s) == 0 {
					return "ok"
				}
				return strings.Join(s, "\n")
			}
			datadriven.RunTest(t, file, func(t *testing.T, d *datadriven.TestData) string {
				switch d.Cmd {
				case "put":
					tab.AddPut(d.Val("id", ""), Location{NodeID: d.Val("node", ""), Inline: []byte("v"), Contains: contains(d)})
					return "ok"
				case "submit":
					rets, _ := d.Arg("returns")
					args, _ := d.Arg("args")
					n, _ := strconv.Atoi(d.Val("retries", "3"))
					tab.AddTask(&Task{ID: d.Val("task", ""), Returns: rets, Args: args, RetriesLeft: n})
					return "ok"
				case "complete":
					k, _ := tab.Task(d.Val("task", ""))
					res := map[string]Location{}
					for _, r := range k.Returns {
						loc := Location{NodeID: d.Val("node", ""), Contains: contains(d)}
						if msg := d.Val("error", ""); msg != "" {
							loc = Location{Err: errors.New(msg)}
						}
						res[r] = loc
					}
					if at, ok := d.Arg("at"); ok {
						res = map[string]Location{}
						for _, x := range at {
							id, place, _ := strings.Cut(x, ":")
							res[id] = Location{NodeID: place}
							if place == "inline" {
								res[id] = Location{Inline: []byte("v")}
							}
						}
					}
					return acts(tab.Complete(k.ID, res))
				case "item":
					loc := Location{NodeID: d.Val("node", "")}
					if loc.NodeID == "" {
						loc.Inline = []byte("v")
					}
					return acts(tab.AddReturn(d.Val("task", ""), d.Val("id", ""), loc))
				case "actor":
					if !tab.AddActor(d.Val("id", "")) {
						return "existing"
					}
					return "ok"
				case "actors":
					return strconv.Itoa(tab.Actors())
				case "add-ref":
					tab.AddLocal(d.Val("id", ""))
					return "ok"
				case "drop-ref":
					return acts(tab.RemoveLocal(d.Val("id", "")))
				case "node-died":
					return acts(tab.NodeDied(d.Val("node", "")))
				case "lost":
					return acts(tab.Lost(d.Val("id", ""), ErrLost))
				case "fail":
					return acts(tab.FailTask(d.Val("task", ""), errors.New("boom")))
				case "add-borrower":
					if !tab.AddBorrower(d.Val("id", ""), d.Val("addr", ""), atoi(d.Val("n", "1"))) {
						return "unknown"
					}
					return "ok"
				case "remove-borrower":
					return acts(tab.RemoveBorrower(d.Val("id", ""), d.Val("addr", ""), atoi(d.Val("n", "1"))))
				case "borrower-died":
					return acts(tab.BorrowerDied(d.Val("addr", "")))
				case "add-contained":
					if !tab.AddContained(d.Val("id", ""), atoi(d.Val("n", "1"))) {
						return "unknown"
					}
					return "ok"
				case "remove-contained":
					return acts(tab.RemoveContained(d.Val("id", ""), atoi(d.Val("n", "1"))))
				case "borrowers":
					return strings.Join(append(tab.BorrowerAddrs(), ""), "\n")
				case "show":
					return tab.Dump()
				}
				d.Fatalf(t, "unknown command")
				return ""
			})
		})
	}
}

// contains reads a command's contains=a,b@o.
func contains(d *datadriven.TestData) []Ref {
	xs, _ := d.Arg("contains")
	var out []Ref
	for _, x := range xs {
		id, owner, _ := strings.Cut(x, "@")
		out = append(out, Ref{ID: id, Owner: owner})
	}
	return out
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestBorrowScenarios drives a borrower's table from testdata/borrows.txt:
//
//	hold id=x owner=o / take id=x / adopt id=x owner=o
//	registered id=x [ok=false] / release id=x / flushed / drop-all / show
func TestBorrowScenarios(t *testing.T) {
	b := NewBorrows()
	acts := func(a []BorrowAction) string {
		var s []string
		for _, x := range a {
			s = append(s, x.String())
		}
		if len(s) == 0 {
			return "ok"
		}
		return strings.Join(s, "\n")
	}
	datadriven.RunTest(t, "testdata/borrows.txt", func(t *testing.T, d *datadriven.TestData) string {
		id := d.Val("id", "")
		switch d.Cmd {
		case "hold":
			return acts(b.Hold(id, d.Val("owner", "")))
		case "take":
			return strconv.FormatBool(b.Take(id))
		case "adopt":
			b.Adopt(id, d.Val("owner", ""))
			return "ok"
		case "registered":
			return acts(b.Registered(id, d.Val("ok", "true") == "true"))
		case "release":
			return acts(b.Release(id))
		case "flushed":
			return strconv.FormatBool(b.Flushed())
		case "drop-all":
			return acts(b.DropAll())
		case "show":
			return b.Dump()
		}
		d.Fatalf(t, "unknown command")
		return ""
	})
}

func TestDoneClosesOnComplete(t *testing.T) {
	tab := New()
	tab.AddTask(&Task{ID: "t", Returns: []string{"r"}, RetriesLeft: 3})
	e, _ := tab.Get("r")
	select {
	case <-e.Done():
		t.Fatal("done before completion")
	default:
	}
	tab.Complete("t", map[string]Location{"r": {Inline: []byte("1")}})
	<-e.Done()
}

// A waiter on an object whose last reference goes before its task finished
// must wake (and find it gone) rather than wait for a completion that the
// table will ignore.
func TestDoneClosesWhenReleasedBeforeReady(t *testing.T) {
	tab := New()
	tab.AddTask(&Task{ID: "t", Returns: []string{"r"}})
	e, _ := tab.Get("r")
	tab.RemoveLocal("r")
	select {
	case <-e.Done():
	default:
		t.Fatal("a waiter on a released, unfinished object is never woken")
	}
	if _, ok := tab.Get("r"); ok {
		t.Fatal("released object still in the table")
	}
}
