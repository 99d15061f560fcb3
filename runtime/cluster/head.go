package cluster

import "github.com/goray-dev/goray/runtime/cluster/bare"

// HeadConfig configures a bare head: the GCS on GcsPort plus the node
// manager (see bare.HeadConfig).
type HeadConfig = bare.HeadConfig

// Head is a running bare head: the GCS and the head's node manager.
type Head = bare.Head

// StartHead starts a bare head, the GCS and the head's node manager and
// nothing else: what tests of the runtime need. Start runs a whole head.
func StartHead(cfg HeadConfig) (*Head, error) { return bare.StartHead(cfg) }
