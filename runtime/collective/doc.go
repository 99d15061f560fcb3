// Package collective is goray's collective communication among a group of
// processes — typically the actors of a data-parallel trainer — like Ray's
// ray.util.collective over Gloo: AllReduce (sum, product, min, max, mean),
// Broadcast, AllGather, ReduceScatter and Barrier over float32 and float64
// slices.
//
// Members find each other through a rendezvous (the cluster's key-value
// store by default: each member publishes its address under the group's
// name) and then talk over direct TCP connections to their neighbours in a
// ring, never through the GCS: the ring algorithms move each byte over each
// link about twice for an all-reduce, whatever the group's size. The
// connections check the cluster's token (and run over TLS when the cluster
// does), like every other goray endpoint.
//
// Members that are all on one machine (and see the same /dev/shm: one
// node, one pod) move their data through shared memory instead, as NCCL
// and Gloo do: a segment of at most 32 MiB that rank 0 makes and every
// member maps, with futex barriers in it; operations larger than that go
// through it in chunks. It is several times faster than the ring on few
// cores (docs/benchmarks.md). The members decide together when the group
// forms, so one member that cannot map it puts the whole group on the
// ring; Options.NoSharedMemory keeps a group on the ring, and
// Group.SharedMemory says which one a group uses. The ring's connections
// stay open either way: a member that dies closes them, which is how the
// others, waiting at a barrier, learn of it.
//
// Every member must call the same operations in the same order with slices
// of the same length. An operation ends with an error when its context or
// the group's timeout ends, or when a member is lost: a member that sees a
// connection fail closes its own, so the failure goes round the ring and
// every member's operation fails quickly, and the group is broken from
// then on (make a new one).
package collective
