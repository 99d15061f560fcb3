package data

import "github.com/apache/arrow-go/v18/arrow"

// outBuffer gathers a task's output batches into blocks of up to a target
// size in bytes (Ray Data's target_max_block_size), as Ray's map operators
// do with their output. A read makes batches of TargetBlockRows rows (64
// Ki: small enough for the work on them to stay in the caches), and a
// block per batch would cost, per 64 Ki rows, an object and a metadata
// object in the store, their reports to the driver and the driver's
// bookkeeping: for narrow rows that was most of what a pipeline spent
// besides its reads and its work. A block holds batches of one schema
// from one source (a block's metadata names one file); a batch larger
// than the target is a block of its own, and none is cut.
type outBuffer struct {
	target int64
	recs   []arrow.RecordBatch
	bytes  int64
	src    string
}

// joins is whether rec, from src, joins the block being gathered; if
// not, that block is taken first.
func (o *outBuffer) joins(rec arrow.RecordBatch, src string) bool {
	if len(o.recs) == 0 {
		return true
	}
	return src == o.src && o.bytes+batchBytes(rec) <= o.target && rec.Schema().Equal(o.recs[0].Schema())
}

// add keeps rec (retained) in the block being gathered.
func (o *outBuffer) add(rec arrow.RecordBatch, src string) {
	rec.Retain()
	o.recs = append(o.recs, rec)
	o.bytes += batchBytes(rec)
	o.src = src
}

// full is whether the block being gathered has reached the target.
func (o *outBuffer) full() bool { return len(o.recs) > 0 && o.bytes >= o.target }

// take hands over the block gathered (nil if none) and its source; the
// caller releases the batches.
func (o *outBuffer) take() ([]arrow.RecordBatch, string) {
	recs, src := o.recs, o.src
	o.recs, o.bytes, o.src = nil, 0, ""
	return recs, src
}

// release drops what is gathered (a task that failed).
func (o *outBuffer) release() {
	recs, _ := o.take()
	for _, r := range recs {
		r.Release()
	}
}
