package data

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/goray-dev/goray/runtime/ray"
)

// Zip puts the columns of other beside this dataset's, row by row (Ray's
// zip): both must have the same number of rows. A column of other whose
// name this dataset has is renamed with a "_1" suffix. The output has
// this dataset's blocks; both inputs stream.
func (d *Dataset) Zip(other *Dataset) *Dataset {
	if other == nil {
		return d.errorf("Zip: a nil dataset")
	}
	return d.with(&logicalOp{name: "Zip", zip: other.op})
}

// zipSpec is a zip task's work: its left block, and Rows rows of the right
// blocks (its other arguments) from row Skip of the first.
type zipSpec struct {
	Skip int64 `json:"skip"`
	Rows int64 `json:"rows"`
}

// zipTask's arguments: the encoded spec, the left block, the right
// blocks. It returns the zipped block and its metadata.
var zipTask = ray.TaskVar("goray.data.zip", func(ctx context.Context, args [][]byte) ([][]byte, error) {
	clock := newTaskClock()
	if len(args) < 2 {
		return nil, fmt.Errorf("zip task with %d arguments", len(args))
	}
	var spec zipSpec
	if err := json.Unmarshal(args[0], &spec); err != nil {
		return nil, err
	}
	left, err := decodeBlock(args[1])
	if err != nil {
		return nil, err
	}
	var rights []arrow.RecordBatch
	for _, a := range args[2:] {
		r, err := decodeBlock(a)
		if err != nil {
			return nil, err
		}
		rights = append(rights, r)
	}
	out, err := zipBlocks(left, rights, spec)
	if err != nil {
		return nil, err
	}
	b, meta, err := blockAndMeta(nil, out, clock, "", nil)
	if err != nil {
		return nil, err
	}
	return [][]byte{b, meta}, nil
})

// zipBlocks joins left with rows [Skip, Skip+Rows) of the concatenated
// right blocks, column-wise.
func zipBlocks(left arrow.RecordBatch, rights []arrow.RecordBatch, spec zipSpec) (arrow.RecordBatch, error) {
	if spec.Rows != left.NumRows() {
		return nil, fmt.Errorf("zip: %d rows on the left, %d on the right", left.NumRows(), spec.Rows)
	}
	fields := left.Schema().Fields()
	cols := left.Columns()[:left.NumCols():left.NumCols()]
	if len(rights) > 0 {
		all, err := concatBatches(rights[0].Schema(), rights)
		if err != nil {
			return nil, fmt.Errorf("zip: the right dataset's blocks: %w", err)
		}
		if spec.Skip+spec.Rows > all.NumRows() {
			return nil, fmt.Errorf("zip: rows %d..%d of right blocks of %d rows", spec.Skip, spec.Skip+spec.Rows, all.NumRows())
		}
		right := all.NewSlice(spec.Skip, spec.Skip+spec.Rows)
		for i, f := range right.Schema().Fields() {
			for len(left.Schema().FieldIndices(f.Name)) > 0 {
				f.Name += "_1"
			}
			fields = append(fields, f)
			cols = append(cols, right.Column(i))
		}
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, left.NumRows()), nil
}

// runZip pairs each left block with the right rows it needs, as they
// stream, and zips them in tasks, a window of MaxTasksPerOp ahead of the
// output.
func (e *execution) runZip(ctx context.Context, op *physicalOp) <-chan item {
	out := make(chan item)
	left := e.start(ctx, op.input)
	right := e.start(ctx, op.zip)
	st := e.stats.op(op.name)
	go func() {
		defer close(out)
		defer st.finish()
		if err := e.zip(ctx, left, right, st, out); err != nil {
			send(ctx, out, item{err: &OperatorError{Op: op.name, Err: err}})
		}
	}()
	return out
}

// rightBlock is a right block and how many of its rows are taken.
type rightBlock struct {
	b     bundle
	taken int64
}

type zipJob struct {
	block, meta ray.Ref[[]byte]
	release     []bundle // blocks no later job needs
}

func (e *execution) zip(ctx context.Context, left, right <-chan item, st *opStats, out chan<- item) error {
	var pending []*rightBlock // right blocks not wholly taken
	rightDone := false
	nextRight := func() (bool, error) {
		for !rightDone {
			select {
			case it, ok := <-right:
				if !ok {
					rightDone = true
					return false, nil
				}
				if it.err != nil {
					return false, it.err
				}
				if it.b.meta.Rows == 0 {
					continue
				}
				pending = append(pending, &rightBlock{b: it.b})
				return true, nil
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		return false, nil
	}
	var jobs []zipJob
	emit := func() error {
		j := jobs[0]
		jobs = jobs[1:]
		meta, err := getMeta(ctx, j.meta)
		if err != nil {
			return err
		}
		for _, b := range j.release {
			b.release()
		}
		st.block(meta)
		if !send(ctx, out, item{b: bundle{ref: j.block, meta: meta, owned: true}}) {
			return ctx.Err()
		}
		return nil
	}
	var leftRows, rightRows int64
	for it := range left {
		if it.err != nil {
			// The left input's error goes on as it is, not as Zip's.
			send(ctx, out, it)
			return nil //nolint:nilerr // passed downstream above
		}
		lb := it.b
		if lb.meta.Rows == 0 {
			continue // nothing to pair
		}
		leftRows += lb.meta.Rows
		// Gather the right rows this block needs.
		avail := int64(0)
		for _, p := range pending {
			avail += p.b.meta.Rows - p.taken
		}
		for avail < lb.meta.Rows {
			ok, err := nextRight()
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("the datasets differ in length: the right one ends before row %d of the left", leftRows)
			}
			p := pending[len(pending)-1]
			avail += p.b.meta.Rows
			rightRows += p.b.meta.Rows
		}
		spec := zipSpec{Rows: lb.meta.Rows}
		args := []any{nil, lb.ref}
		var release []bundle
		if lb.owned {
			release = append(release, lb)
		}
		need := lb.meta.Rows
		for need > 0 {
			p := pending[0]
			if len(args) == 2 {
				spec.Skip = p.taken
			}
			args = append(args, p.b.ref)
			take := min(need, p.b.meta.Rows-p.taken)
			p.taken += take
			need -= take
			if p.taken == p.b.meta.Rows {
				pending = pending[1:]
				release = append(release, p.b)
			}
		}
		enc, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		args[0] = enc
		refs, err := ray.RemoteN(ctx, zipTask, 2, append(args, ray.MaxRetries(e.opts.MaxTaskRetries))...)
		if err != nil {
			return err
		}
		st.taskStarted()
		jobs = append(jobs, zipJob{block: refs[0], meta: refs[1], release: release})
		for len(jobs) >= e.opts.MaxTasksPerOp {
			if err := emit(); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for len(jobs) > 0 {
		if err := emit(); err != nil {
			return err
		}
	}
	// The right dataset must end here too.
	for len(pending) == 0 {
		ok, err := nextRight()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
	}
	return fmt.Errorf("the datasets differ in length: the left one has %d rows, the right one more", leftRows)
}
