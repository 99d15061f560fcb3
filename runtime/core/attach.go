package core

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// attachment is the node manager a process asks for leases and stores its
// big objects in. A worker's is its node for good; a driver's can change:
// when the node it attached to dies (the head's node dies with the head
// process, and a restarted head's node manager is a new node) the driver
// attaches to a live one instead of retrying a dead port forever.
type attachment struct {
	addr   string
	id     string
	client rpcpb.NodeManagerClient
}

// nodeAttach holds the current attachment and the last cluster view seen,
// from which a driver picks another node while the GCS is down too.
type nodeAttach struct {
	mu    sync.Mutex
	cur   *attachment
	nodes []*rpcpb.NodeView // last GetNodes answer
	// repicking serializes re-picks: every lease request that finds the
	// node gone asks at once, one of them picks.
	repicking sync.Mutex
}

func (a *nodeAttach) get() *attachment {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cur
}

func (a *nodeAttach) set(at *attachment) {
	a.mu.Lock()
	a.cur = at
	a.mu.Unlock()
}

// sawNodes keeps the last cluster view (for picking a node during a GCS outage).
func (a *nodeAttach) sawNodes(nodes []*rpcpb.NodeView) {
	a.mu.Lock()
	a.nodes = nodes
	a.mu.Unlock()
}

func (a *nodeAttach) lastNodes() []*rpcpb.NodeView {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodes
}

// nodeClient is the node manager this process leases from now.
func (w *Worker) nodeClient() rpcpb.NodeManagerClient { return w.att.get().client }

// ChooseNode picks the node a driver attaches to among nodes: a live one on
// the driver's IP, else the live head, else the first live node by id;
// nodes at an address in avoid are skipped. Nil when none is left.
func ChooseNode(nodes []*rpcpb.NodeView, ip string, avoid map[string]bool) *rpcpb.NodeView {
	live := make([]*rpcpb.NodeView, 0, len(nodes))
	for _, n := range nodes {
		if n.Alive && n.Address != "" && !avoid[n.Address] {
			live = append(live, n)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].NodeId < live[j].NodeId })
	for _, n := range live {
		if n.Ip == ip {
			return n
		}
	}
	for _, n := range live {
		if n.IsHead {
			return n
		}
	}
	if len(live) > 0 {
		return live[0]
	}
	return nil
}

// canReattach: only a driver outside the cluster's processes moves; a
// worker's node is its parent (it dies with it), and an embedded cluster's
// driver is the node's own process.
func (w *Worker) canReattach() bool { return !w.isWork && w.local == nil }

// nodeLost is called when the attached node failed (a lease call to it found
// no server, or the GCS and a probe agree it is dead). A driver attaches to
// another live node: from the GCS's view, or from the last view seen while
// the GCS is down too. It returns the attachment to use now (the same one
// when there is nothing better, or another caller already moved).
func (w *Worker) nodeLost(failed *attachment, cause error) *attachment {
	if !w.canReattach() {
		return failed
	}
	w.att.repicking.Lock()
	defer w.att.repicking.Unlock()
	if cur := w.att.get(); cur != failed {
		return cur // another request moved meanwhile
	}
	nodes, fresh := w.att.lastNodes(), false
	ctx, cancel := context.WithTimeout(w.baseCtx, 3*time.Second)
	// The raw connection, not the retrying one: while the GCS is down too
	// the last view is what there is.
	if v, err := w.gcsRaw.GetNodes(ctx, &rpcpb.GetNodesRequest{}); err == nil {
		nodes, fresh = v.Nodes, true
		w.att.sawNodes(v.Nodes)
	}
	cancel()
	avoid := map[string]bool{failed.addr: true}
	n := ChooseNode(nodes, w.cfg.IP, avoid)
	if n == nil && fresh {
		// The GCS lists the failed address as a live node (the same node
		// after a blip, or a restarted head's new node on the same port).
		n = ChooseNode(nodes, w.cfg.IP, nil)
	}
	if n == nil {
		w.warn.printf(w.log, "node manager %s (node %s) is unreachable and no other live node is known yet: %v", failed.addr, failed.id, cause)
		return failed
	}
	if n.Address == failed.addr && n.NodeId == failed.id {
		return failed
	}
	conn, err := w.pool.Get(n.Address)
	if err != nil {
		return failed
	}
	at := &attachment{addr: n.Address, id: n.NodeId, client: rpcpb.NewNodeManagerClient(conn)}
	w.att.set(at)
	w.relaunchLeaseRequests()
	w.log.Printf("node manager %s (node %s) is gone (%v); this driver now uses node %s at %s", failed.addr, failed.id, cause, n.NodeId, n.Address)
	return at
}

// relaunchLeaseRequests cancels the lease requests in flight, which may
// hang on the node left behind (a vanished host resets no connection), so
// that the queued tasks ask the new attachment.
func (w *Worker) relaunchLeaseRequests() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, q := range w.queues {
		w.runLocked(q, q.relaunchRequests(w.leaseBuf()), nil, nil)
	}
}

// logLimiter lets a repeated warning through at most once per interval,
// saying how many were left out: a driver waiting out an outage logs a few
// lines, not ten a second.
type logLimiter struct {
	mu       sync.Mutex
	interval time.Duration
	now      func() time.Time
	last     time.Time
	dropped  int
}

func newLogLimiter(interval time.Duration) *logLimiter {
	return &logLimiter{interval: interval, now: time.Now}
}

// allow reports whether to log now, and how many lines were held back since
// the last one.
func (l *logLimiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.interval {
		l.dropped++
		return false, 0
	}
	d := l.dropped
	l.last, l.dropped = now, 0
	return true, d
}

type printer interface{ Printf(string, ...any) }

func (l *logLimiter) printf(p printer, format string, args ...any) {
	ok, dropped := l.allow()
	if !ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if dropped > 0 {
		msg += fmt.Sprintf(" (%d similar messages in the last %s not shown)", dropped, l.interval)
	}
	p.Printf("%s", msg)
}
