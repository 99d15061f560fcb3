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
// Every member must call the same operations in the same order with slices
// of the same length. An operation ends with an error when its context or
// the group's timeout ends, or when a member is lost: a member that sees a
// connection fail closes its own, so the failure goes round the ring and
// every member's operation fails quickly, and the group is broken from
// then on (make a new one).
package collective
