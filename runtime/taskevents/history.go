package taskevents

import (
	"maps"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/goray-dev/goray/runtime/internal/offheap"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// DefaultHistorySize is how many task attempts the GCS keeps (Ray's
// task_events_max_num_task_in_gcs).
const DefaultHistorySize = 100_000

// The error types the history gives attempts it ends itself, Ray's names.
const (
	ErrNodeDied   = "NODE_DIED"
	ErrWorkerDied = "WORKER_DIED"
)

// attemptKey names an attempt in the history's index. Ids up to idCap
// bytes (goray's are 28) are held in the key itself; a longer one is in
// the long index.
type attemptKey struct {
	id      [idCap]byte
	n       uint8
	attempt int32
}

type longKey struct {
	id      string
	attempt int32
}

// attempt is one task attempt as the history holds it. It holds no
// pointers: its strings are numbers in the history's tables, its list
// links slot numbers, so the history's 100,000 attempts can live outside
// the heap: the garbage collector neither scans them (a pointer per field
// made it scan tens of megabytes at every cycle of the GCS's process) nor
// counts them (a history filling up made it run more often).
type attempt struct {
	id      [idCap]byte
	idLen   uint8 // 0: the id is in longIDs
	live    bool  // the slot holds an attempt
	ended   bool  // in the done list
	hasErr  bool  // errs holds its error
	attempt int32
	pid     int32
	job     uint32 // 1-based in strs; 0: none
	node    uint32
	worker  uint32
	info    uint32                            // 1-based in infos; 0: none
	times   [rpcpb.TaskEvent_FAILED + 1]int64 // by status; 0: not seen
	// Links of the history's two lists: every attempt in creation order,
	// ended attempts in the order they ended (slots; 0 ends a list).
	allPrev, allNext, donePrev, doneNext int32
}

// state is the attempt's current status: its outcome once it has one (a
// failure wins: the owner's FAILED after the executor's FINISHED means the
// result was lost), else the furthest status seen. The furthest, not the
// latest by time: owner and executor clocks differ.
func (a *attempt) state() Status {
	switch {
	case a.times[Failed] != 0:
		return Failed
	case a.times[Finished] != 0:
		return Finished
	}
	for s := Finished - 1; s > 0; s-- {
		if a.times[s] != 0 {
			return s
		}
	}
	return rpcpb.TaskEvent_NIL
}

func (a *attempt) terminal() bool { return a.times[Failed] != 0 || a.times[Finished] != 0 }

// errPair is an attempt's error, kept beside it (few attempts fail).
type errPair struct{ typ, msg string }

// History is the GCS's bounded record of task attempts. It is not safe for
// concurrent use: the GCS serialises calls.
type History struct {
	max int
	// slots holds the attempts by slot number (slot 0 is never used), in
	// chunks of slotChunk: the history grows without copying what it holds
	// (growing one slice to 100,000 attempts cost the GCS a few percent of
	// a core in allocation and copying while it filled).
	slots   [][]attempt
	mem     *offheap.Arena // the slots' memory, outside the heap (see Buffer.mem)
	nSlots  int32
	free    []int32
	n       int
	index   map[attemptKey]int32
	longIDs map[longKey]int32
	ids     map[int32]string // the long ids, by slot
	errs    map[int32]errPair
	strs    refTable[string]
	infos   refTable[string] // an info's content key, see infoKey
	infoPBs map[uint32]*rpcpb.TaskInfo
	all     chain // every attempt, oldest first
	done    chain // finished and failed attempts, in the order they ended
	dropped map[string]int64
}

// NewHistory keeps at most max attempts (DefaultHistorySize if max <= 0).
func NewHistory(max int) *History {
	if max <= 0 {
		max = DefaultHistorySize
	}
	mem := offheap.NewArena()
	h := &History{max: max, nSlots: 1, mem: mem, slots: [][]attempt{offheap.Make[attempt](mem, slotChunk)}, index: map[attemptKey]int32{},
		longIDs: map[longKey]int32{}, ids: map[int32]string{}, errs: map[int32]errPair{}, infoPBs: map[uint32]*rpcpb.TaskInfo{},
		dropped: map[string]int64{}}
	h.all = chain{h: h, prev: func(a *attempt) *int32 { return &a.allPrev }, next: func(a *attempt) *int32 { return &a.allNext }}
	h.done = chain{h: h, prev: func(a *attempt) *int32 { return &a.donePrev }, next: func(a *attempt) *int32 { return &a.doneNext }}
	runtime.AddCleanup(h, (*offheap.Arena).Release, mem)
	return h
}

// Len is the number of attempts held.
func (h *History) Len() int { return h.n }

// Dropped is the number of events and attempts lost for job ("" for all
// jobs): dropped by full buffers or evicted from the history.
func (h *History) Dropped(job string) int64 {
	if job != "" {
		return h.dropped[job]
	}
	var n int64
	for _, d := range h.dropped {
		n += d
	}
	return n
}

// slotChunk is how many attempts a chunk of the history's storage holds.
const slotChunk = 4096

func (h *History) at(s int32) *attempt { return &h.slots[s/slotChunk][s%slotChunk] }

// newSlot is a slot never used before, a new chunk's first if needed.
func (h *History) newSlot() int32 {
	s := h.nSlots
	if int(s/slotChunk) == len(h.slots) {
		h.slots = append(h.slots, offheap.Make[attempt](h.mem, slotChunk))
	}
	h.nSlots++
	return s
}

// each calls fn with every live attempt, in slot order.
func (h *History) each(fn func(a *attempt)) {
	for s := int32(1); s < h.nSlots; s++ {
		if a := h.at(s); a.live {
			fn(a)
		}
	}
}

// taskID is the attempt's task id.
func (h *History) taskID(s int32) string {
	a := h.at(s)
	if a.idLen > 0 {
		return string(a.id[:a.idLen])
	}
	return h.ids[s]
}

// Add merges a batch into the history and returns the attempts it was the
// first to bring to FAILED (the GCS makes cluster events of them).
func (h *History) Add(batch *rpcpb.TaskEventBatch) []*rpcpb.TaskState {
	for job, n := range batch.GetDropped() {
		if n > 0 {
			h.dropped[job] += n
		}
	}
	// The batch's descriptions, each found in (or added to) the table once.
	infos := make([]uint32, len(batch.GetInfos()))
	var failed []*rpcpb.TaskState
	for _, e := range batch.GetEvents() {
		if s := h.add(batch, e, infos); s != 0 {
			failed = append(failed, h.toProto(s))
		}
	}
	// The batch held a reference to each of its descriptions for its
	// attempts; attempts took their own.
	for _, i := range infos {
		if i != 0 {
			h.releaseInfo(i)
		}
	}
	return failed
}

// add merges one record; it returns the attempt's slot if the record
// failed it.
func (h *History) add(batch *rpcpb.TaskEventBatch, e *rpcpb.TaskEvent, infos []uint32) int32 {
	if e.TaskId == "" || len(e.Statuses) == 0 {
		return 0
	}
	s := h.get(e.TaskId, e.Attempt, jobOf(batch, e))
	a := h.at(s)
	wasFailed := a.times[Failed] != 0
	if i := int(e.Info) - 1; a.info == 0 && i >= 0 && i < len(infos) {
		if infos[i] == 0 {
			infos[i] = h.internInfo(batch.Infos[i])
		}
		a.info = infos[i]
		h.infos.refs[a.info]++
	}
	running := false
	for i, st := range e.Statuses {
		if st <= rpcpb.TaskEvent_NIL || st > Failed {
			continue
		}
		running = running || st == Running
		t := int64(1) // seen, time unknown
		if i < len(e.TimesNs) && e.TimesNs[i] > 0 {
			t = e.TimesNs[i]
		}
		if a.times[st] == 0 || t < a.times[st] {
			a.times[st] = t
		}
	}
	if w := indexed(batch.Wheres, e.Where); w != nil && w.NodeId != "" && (a.node == 0 || running) {
		h.setStr(&a.node, w.NodeId)
		h.setStr(&a.worker, w.WorkerId)
		if w.WorkerPid != 0 {
			a.pid = w.WorkerPid
		}
	}
	if e.ErrorType != "" || e.ErrorMessage != "" {
		h.errs[s], a.hasErr = errPair{e.ErrorType, e.ErrorMessage}, true
	}
	h.markDone(s)
	if !wasFailed && a.times[Failed] != 0 {
		return s
	}
	return 0
}

// get returns the attempt's slot, making it (and evicting beyond the
// bound) if new.
func (h *History) get(task string, attemptNo int32, job string) int32 {
	var k attemptKey
	long := len(task) > idCap
	if !long {
		k.n = uint8(copy(k.id[:], task))
		k.attempt = attemptNo
		if s, ok := h.index[k]; ok {
			h.fillJob(s, job)
			return s
		}
	} else if s, ok := h.longIDs[longKey{task, attemptNo}]; ok {
		h.fillJob(s, job)
		return s
	}
	for h.n >= h.max {
		h.evict()
	}
	var s int32
	if n := len(h.free); n > 0 {
		s, h.free = h.free[n-1], h.free[:n-1]
	} else {
		s = h.newSlot()
	}
	a := h.at(s)
	*a = attempt{live: true, attempt: attemptNo}
	if long {
		h.longIDs[longKey{task, attemptNo}] = s
		h.ids[s] = task
	} else {
		a.id, a.idLen = k.id, k.n
		h.index[k] = s
	}
	h.setStr(&a.job, job)
	h.all.pushBack(s)
	h.n++
	return s
}

func (h *History) fillJob(s int32, job string) {
	if a := h.at(s); a.job == 0 && job != "" {
		h.setStr(&a.job, job)
	}
}

// setStr points *field at v in the string table, releasing what it held.
func (h *History) setStr(field *uint32, v string) {
	if *field != 0 && h.strs.list[*field] == v {
		return
	}
	if *field != 0 {
		h.strs.release(*field)
	}
	*field = 0
	if v != "" {
		*field = h.strs.acquire(v)
	}
}

func (h *History) str(i uint32) string { return h.strs.list[i] }

func (h *History) markDone(s int32) {
	if a := h.at(s); !a.ended && a.terminal() {
		a.ended = true
		h.done.pushBack(s)
	}
}

// evict removes the attempt that ended first, or the oldest when none has
// ended, and counts it as dropped for its job.
func (h *History) evict() {
	s := h.done.head
	if s == 0 {
		s = h.all.head
	}
	if s == 0 {
		return
	}
	a := h.at(s)
	h.all.remove(s)
	if a.ended {
		h.done.remove(s)
	}
	h.dropped[h.str(a.job)]++
	if a.idLen > 0 {
		delete(h.index, attemptKey{id: a.id, n: a.idLen, attempt: a.attempt})
	} else {
		delete(h.longIDs, longKey{h.ids[s], a.attempt})
		delete(h.ids, s)
	}
	delete(h.errs, s)
	for _, f := range []*uint32{&a.job, &a.node, &a.worker} {
		if *f != 0 {
			h.strs.release(*f)
		}
	}
	if a.info != 0 {
		h.releaseInfo(a.info)
	}
	*a = attempt{}
	h.free = append(h.free, s)
	h.n--
}

// JobFinished ends the attempts of job that have no outcome: they can no
// longer finish (Ray marks them failed the same way).
func (h *History) JobFinished(job string, timeNs int64) {
	i, ok := h.strs.index[job]
	if !ok {
		return
	}
	h.failWhere(func(a *attempt) bool { return a.job == i }, timeNs, ErrWorkerDied, "the job finished before the task did")
}

// NodeDied fails the attempts that were running on node.
func (h *History) NodeDied(node string, timeNs int64) {
	i, ok := h.strs.index[node]
	if !ok {
		return
	}
	h.failWhere(func(a *attempt) bool { return a.node == i }, timeNs, ErrNodeDied, "the node running the task died ("+node+")")
}

// WorkerDied fails the attempts that were running in worker.
func (h *History) WorkerDied(worker, cause string, timeNs int64) {
	i, ok := h.strs.index[worker]
	if !ok {
		return
	}
	h.failWhere(func(a *attempt) bool { return a.worker == i }, timeNs, ErrWorkerDied, "the worker running the task died: "+cause)
}

func (h *History) failWhere(match func(*attempt) bool, timeNs int64, errType, msg string) {
	if timeNs <= 0 {
		timeNs = 1
	}
	for s := h.all.head; s != 0; s = h.at(s).allNext {
		a := h.at(s)
		if a.terminal() || !match(a) {
			continue
		}
		a.times[Failed] = timeNs
		if !a.hasErr {
			h.errs[s], a.hasErr = errPair{errType, msg}, true
		}
		h.markDone(s)
	}
}

// infoKey is a description's content: batches bring their own copies of
// the descriptions, which the history keeps once.
func infoKey(in *rpcpb.TaskInfo) string {
	var b strings.Builder
	for _, s := range []string{in.GetName(), in.GetType().String(), in.GetActorId(), in.GetParentTaskId(), in.GetPlacementGroupId()} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, k := range slices.Sorted(maps.Keys(in.GetRequiredResources())) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(in.RequiredResources[k], 'g', -1, 64))
		b.WriteByte(0)
	}
	return b.String()
}

// internInfo takes a reference to the description (for the batch being
// merged, released after it).
func (h *History) internInfo(in *rpcpb.TaskInfo) uint32 {
	i := h.infos.acquire(infoKey(in))
	if _, ok := h.infoPBs[i]; !ok {
		h.infoPBs[i] = in
	}
	return i
}

func (h *History) releaseInfo(i uint32) {
	if h.infos.release(i) {
		delete(h.infoPBs, i)
	}
}

func (h *History) infoOf(a *attempt) *rpcpb.TaskInfo {
	if a.info == 0 {
		return nil
	}
	return h.infoPBs[a.info]
}

// refTable numbers distinct values from 1 and counts their references: an
// entry no attempt refers to any more is freed, so a long-lived GCS's
// tables hold only what its attempts use.
type refTable[T comparable] struct {
	list  []T // list[0] unused
	refs  []int32
	index map[T]uint32
	free  []uint32
}

func (t *refTable[T]) acquire(v T) uint32 {
	if t.index == nil {
		t.index, t.list, t.refs = map[T]uint32{}, make([]T, 1), make([]int32, 1)
	}
	i, ok := t.index[v]
	if !ok {
		if n := len(t.free); n > 0 {
			i, t.free = t.free[n-1], t.free[:n-1]
			t.list[i] = v
		} else {
			t.list, t.refs = append(t.list, v), append(t.refs, 0)
			i = uint32(len(t.list) - 1)
		}
		t.index[v] = i
	}
	t.refs[i]++
	return i
}

// release drops a reference; it reports whether that was the last.
func (t *refTable[T]) release(i uint32) bool {
	if t.refs[i]--; t.refs[i] > 0 {
		return false
	}
	var zero T
	delete(t.index, t.list[i])
	t.list[i] = zero
	t.free = append(t.free, i)
	return true
}

// chain is a doubly linked list of attempts through one pair of their
// links (slot numbers, 0 for none).
type chain struct {
	h          *History
	head, tail int32
	prev, next func(*attempt) *int32
}

func (c *chain) pushBack(s int32) {
	a := c.h.at(s)
	*c.prev(a), *c.next(a) = c.tail, 0
	if c.tail != 0 {
		*c.next(c.h.at(c.tail)) = s
	} else {
		c.head = s
	}
	c.tail = s
}

func (c *chain) remove(s int32) {
	a := c.h.at(s)
	p, n := *c.prev(a), *c.next(a)
	if p != 0 {
		*c.next(c.h.at(p)) = n
	} else {
		c.head = n
	}
	if n != 0 {
		*c.prev(c.h.at(n)) = p
	} else {
		c.tail = p
	}
	*c.prev(a), *c.next(a) = 0, 0
}
