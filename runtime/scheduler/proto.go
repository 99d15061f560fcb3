package scheduler

import rpcpb "github.com/goray-dev/goray/runtime/proto"

// FromProto is the strategy a request carries (placement groups are not a
// node choice: the caller looks up the bundle's node; here they are the
// default kind).
func FromProto(s *rpcpb.SchedulingStrategy) Strategy {
	st := Strategy{Labels: Selector(s.GetLabelSelector())}
	switch s.GetKind() {
	case rpcpb.SchedulingStrategy_SPREAD:
		st.Kind = Spread
	case rpcpb.SchedulingStrategy_NODE_AFFINITY:
		st.Kind, st.NodeID, st.Soft = NodeAffinity, s.NodeId, s.Soft
	}
	return st
}
