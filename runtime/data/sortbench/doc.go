// Package sortbench measures goray Data's Sort on 100-byte records with
// the object store spilling (the shape of the CloudSort benchmark, whose
// record Ray holds with its push-based shuffle, Exoshuffle) against the
// floor of the same machine: the disk's sequential write and read of the
// same bytes, measured in the same run.
//
//	GORAY_SORT_GB=10 go test -run '^$' -bench Sort -benchtime 1x -timeout 60m ./runtime/data/sortbench/
//
// The records are gensort's layout: a 10-byte key and a 90-byte value,
// made by a MapBatches as the sort reads them; the sorted records are read
// back by the driver, which checks their order and that every record is
// there.
// The cluster is embedded (4 logical CPUs) with a 2 GiB object store, so
// most of a large dataset lives in spill files on disk.
package sortbench
