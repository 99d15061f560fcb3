package node

import rpcpb "github.com/goray-dev/goray/runtime/proto"

// viewCache keeps the registration fields (address, total, labels, ...) of
// the nodes in the cluster view: the GCS sends them once and then leaves
// them out of its answers to this node's heartbeats (NodeView.info_omitted)
// while this node says, with known, which version of them it has. A node
// the cache lacks (an answer that left out one it never saw whole) makes
// the next heartbeat ask for the whole view again.
type viewCache struct {
	info  map[string]*rpcpb.NodeView
	known int64 // the info version to send (0: send everything)
}

// merge fills the left-out fields of v's nodes from the cache, keeps the
// fields v carries, and returns v's nodes.
func (c *viewCache) merge(v *rpcpb.ClusterView) []*rpcpb.NodeView {
	if c.info == nil {
		c.info = map[string]*rpcpb.NodeView{}
	}
	complete := true
	seen := make(map[string]bool, len(v.Nodes))
	for _, nv := range v.Nodes {
		seen[nv.NodeId] = true
		if !nv.InfoOmitted {
			c.info[nv.NodeId] = &rpcpb.NodeView{Address: nv.Address, Ip: nv.Ip, Total: nv.Total, Labels: nv.Labels,
				InstanceId: nv.InstanceId, NodeTypeName: nv.NodeTypeName, IsHead: nv.IsHead}
			continue
		}
		i, ok := c.info[nv.NodeId]
		if !ok {
			complete = false
			continue
		}
		nv.Address, nv.Ip, nv.Total, nv.Labels, nv.InstanceId, nv.NodeTypeName, nv.IsHead = i.Address, i.Ip, i.Total, i.Labels,
			i.InstanceId, i.NodeTypeName, i.IsHead
		nv.InfoOmitted = false
	}
	for id := range c.info {
		if !seen[id] {
			delete(c.info, id)
		}
	}
	c.known = 0
	if complete {
		c.known = v.InfoVersion
	}
	return v.Nodes
}

// reset forgets everything (a new GCS incarnation).
func (c *viewCache) reset() { c.info, c.known = nil, 0 }
