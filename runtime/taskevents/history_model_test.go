package taskevents

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Random batches into a small history: its bookkeeping (slots, indexes,
// lists, the reference-counted tables) stays exact through merges,
// evictions and slot reuse, and nothing it no longer holds is kept.
func TestHistoryBookkeeping(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		rng := rand.New(rand.NewPCG(seed, 3))
		h := NewHistory(40)
		seen := map[string]bool{}
		for round := 0; round < 300; round++ {
			batch := &rpcpb.TaskEventBatch{JobId: "j" + strconv.Itoa(rng.IntN(3))}
			for range 1 + rng.IntN(4) {
				batch.Infos = append(batch.Infos, &rpcpb.TaskInfo{Name: "f" + strconv.Itoa(rng.IntN(5))})
			}
			for range 1 + rng.IntN(4) {
				batch.Wheres = append(batch.Wheres, &rpcpb.TaskWhere{NodeId: "n" + strconv.Itoa(rng.IntN(6)), WorkerId: "w" + strconv.Itoa(rng.IntN(20))})
			}
			for range 1 + rng.IntN(8) {
				id := strconv.Itoa(rng.IntN(120))
				if rng.IntN(4) == 0 {
					id = strings.Repeat("long", 10) + id
				}
				seen[id] = true
				e := &rpcpb.TaskEvent{TaskId: id, Attempt: int32(rng.IntN(2)), Info: int32(rng.IntN(len(batch.Infos) + 1)),
					Where: int32(rng.IntN(len(batch.Wheres) + 1))}
				e.Statuses = []Status{Status(1 + rng.IntN(int(Failed)))}
				e.TimesNs = []int64{int64(round + 1)}
				if e.Statuses[0] == Failed {
					e.ErrorType = "E"
				}
				batch.Events = append(batch.Events, e)
			}
			h.Add(batch)
			switch rng.IntN(20) {
			case 0:
				h.NodeDied("n"+strconv.Itoa(rng.IntN(6)), int64(round+1))
			case 1:
				h.WorkerDied("w"+strconv.Itoa(rng.IntN(20)), "gone", int64(round+1))
			}
			checkHistory(t, h)
		}
	}
}

func checkHistory(t *testing.T, h *History) {
	t.Helper()
	live, ended := 0, 0
	strRefs, infoRefs := map[uint32]int32{}, map[uint32]int32{}
	for s := range h.nSlots {
		a := h.at(s)
		if !a.live {
			continue
		}
		live++
		if a.ended {
			ended++
		}
		if a.ended != a.terminal() {
			t.Fatalf("slot %d: ended %v, terminal %v", s, a.ended, a.terminal())
		}
		for _, f := range []uint32{a.job, a.node, a.worker} {
			if f != 0 {
				strRefs[f]++
			}
		}
		if a.info != 0 {
			infoRefs[a.info]++
			if h.infoPBs[a.info] == nil {
				t.Fatalf("slot %d: description %d missing", s, a.info)
			}
		}
		if a.hasErr != (h.errs[s] != errPair{}) {
			t.Fatalf("slot %d: hasErr %v, errs %v", s, a.hasErr, h.errs[s])
		}
		id := h.taskID(s)
		if k := (attemptKey{id: a.id, n: a.idLen, attempt: a.attempt}); a.idLen > 0 && h.index[k] != s {
			t.Fatalf("slot %d (%s) not indexed", s, id)
		} else if a.idLen == 0 && h.longIDs[longKey{id, a.attempt}] != s {
			t.Fatalf("slot %d (%s) not in the long index", s, id)
		}
	}
	if live != h.n || live != len(h.index)+len(h.longIDs) || live > h.max {
		t.Fatalf("%d live slots, n %d, indexed %d+%d, max %d", live, h.n, len(h.index), len(h.longIDs), h.max)
	}
	count := func(c *chain, next func(*attempt) int32) int {
		n := 0
		for s := c.head; s != 0; s = next(h.at(s)) {
			n++
		}
		return n
	}
	if n := count(&h.all, func(a *attempt) int32 { return a.allNext }); n != live {
		t.Fatalf("all list %d, live %d", n, live)
	}
	if n := count(&h.done, func(a *attempt) int32 { return a.doneNext }); n != ended {
		t.Fatalf("done list %d, ended %d", n, ended)
	}
	for _, tc := range []struct {
		name string
		refs map[uint32]int32
		tab  *refTable[string]
	}{{"strings", strRefs, &h.strs}, {"descriptions", infoRefs, &h.infos}} {
		if len(tc.refs) != len(tc.tab.index) {
			t.Fatalf("%s: %d in use, %d held", tc.name, len(tc.refs), len(tc.tab.index))
		}
		for i, n := range tc.refs {
			if tc.tab.refs[i] != n {
				t.Fatalf("%s: entry %d has %d references, %d counted", tc.name, i, tc.tab.refs[i], n)
			}
		}
	}
	if len(h.infoPBs) != len(infoRefs) {
		t.Fatalf("%d descriptions kept, %d in use", len(h.infoPBs), len(infoRefs))
	}
}
