package node

// When many nodes pull one object at once (a broadcast: the same large
// argument to a task on every node), the node holding it would send it
// once per puller, and its link carries them all: the last copy lands
// after N transfer times. Ray spreads such pulls over the nodes that
// already have the object; here a node that is still receiving an object
// serves it on as its chunks arrive, so a broadcast becomes a chain in
// which every link carries the object once and the last copy lands about
// one transfer time (plus a chunk's delay per hop) after the first.
//
// relayPlan is the holder's bookkeeping: which pullers its own stream
// feeds, directly or through the chain, and whom the next puller should
// pull from. It only lives while the holder sends the object itself: a
// puller that comes later, when those streams are done, is served
// directly (the chain's nodes may have dropped their copies by then).

// relayFanout is how many pullers one node feeds at a time: one, a chain,
// since every link then carries the object once.
const relayFanout = 1

type relayPlan struct {
	objects map[string]*relayGroup
}

// relayGroup is the chain of one object: members in the order they came,
// the first fed by this node.
type relayGroup struct {
	direct  int // this node's own streams to pullers
	members []relayMember
}

type relayMember struct {
	addr string
	fed  int // pullers sent to it
}

func newRelayPlan() *relayPlan { return &relayPlan{objects: map[string]*relayGroup{}} }

// assign decides where puller gets object id from: "" for this node (the
// caller then calls done when its stream ends), or the address of a node
// in the chain with room to feed one more. With relay false (the puller's
// relay failed) it is always this node.
func (p *relayPlan) assign(id, puller string, relay bool) string {
	g := p.objects[id]
	if g == nil {
		g = &relayGroup{}
		p.objects[id] = g
	}
	if relay && g.direct >= relayFanout {
		for i := range g.members {
			m := &g.members[i]
			if m.fed < relayFanout && m.addr != puller {
				m.fed++
				g.members = append(g.members, relayMember{addr: puller})
				return m.addr
			}
		}
	}
	g.direct++
	g.members = append(g.members, relayMember{addr: puller})
	return ""
}

// done ends one of this node's own streams of id (finished or broken).
// Once none is left the chain's record goes: the next puller is served
// here.
func (p *relayPlan) done(id string) {
	g := p.objects[id]
	if g == nil {
		return
	}
	if g.direct--; g.direct <= 0 {
		delete(p.objects, id)
	}
}
