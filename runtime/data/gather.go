package data

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The shuffle's map and reduce tasks move rows of fixed-width columns
// without nulls (numbers, fixed-size binary: the records of a sort) by
// hand instead of through Arrow's take: the map task scatters the rows of
// its input blocks straight into their parts (no concatenation first),
// the reduce task sorts (key, row) pairs with a radix sort and gathers the
// rows from its parts in that order (again no concatenation). The rows go
// into scratch buffers a worker keeps between tasks: Arrow's take
// allocates its output afresh each time, and fresh memory costs a page
// fault and a cleared page per 4 KiB, more than the copy itself. Other
// columns take the general path (concatenate, then take).

// scratchKeep bounds the scratch bytes a process keeps between tasks.
const scratchKeep = 512 << 20

// scratchPool is the scratch buffers a process keeps, reused by its tasks.
type scratchPool struct {
	mu    sync.Mutex
	free  [][]byte
	bytes int
}

var scratch scratchPool

// get returns a buffer of n bytes (its contents are whatever the last user
// left): the smallest kept one that holds n, else a new one.
func (p *scratchPool) get(n int) []byte {
	p.mu.Lock()
	best := -1
	for i, b := range p.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := p.free[best]
		p.free = slices.Delete(p.free, best, best+1)
		p.bytes -= cap(b)
		p.mu.Unlock()
		return b[:n]
	}
	p.mu.Unlock()
	// A little room over n, so that the next task's slightly larger
	// block fits too.
	return make([]byte, n, n+n/8)
}

// put gives buffers back for reuse, dropping the smallest kept ones past
// scratchKeep.
func (p *scratchPool) put(bufs ...[]byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range bufs {
		if cap(b) == 0 {
			continue
		}
		p.free = append(p.free, b[:0])
		p.bytes += cap(b)
	}
	for p.bytes > scratchKeep && len(p.free) > 0 {
		small := 0
		for i, b := range p.free {
			if cap(b) < cap(p.free[small]) {
				small = i
			}
		}
		p.bytes -= cap(p.free[small])
		p.free = slices.Delete(p.free, small, small+1)
	}
}

// fixedWidth is a column's values as bytes, width bytes a row, when the
// column is of a fixed-width type (numbers, fixed-size binary) without
// nulls; ok is false otherwise.
func fixedWidth(col arrow.Array) (values []byte, width int, ok bool) {
	if col.NullN() > 0 {
		return nil, 0, false
	}
	switch t := col.DataType().(type) {
	case *arrow.FixedSizeBinaryType:
		width = t.ByteWidth
	case arrow.FixedWidthDataType:
		switch t.ID() {
		case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64, arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64,
			arrow.FLOAT16, arrow.FLOAT32, arrow.FLOAT64, arrow.DATE32, arrow.DATE64, arrow.TIMESTAMP, arrow.TIME32,
			arrow.TIME64, arrow.DURATION:
			width = t.BitWidth() / 8
		default:
			return nil, 0, false
		}
	default:
		return nil, 0, false
	}
	if width <= 0 {
		return nil, 0, false
	}
	if col.Len() == 0 {
		return nil, width, true // an empty array may have no buffers
	}
	d := col.Data()
	if len(d.Buffers()) != 2 || d.Buffers()[1] == nil {
		return nil, 0, false
	}
	buf := d.Buffers()[1].Bytes()
	lo, hi := d.Offset()*width, (d.Offset()+d.Len())*width
	if hi > len(buf) {
		return nil, 0, false
	}
	return buf[lo:hi], width, true
}

// fixedColumns is each column of each block as fixedWidth bytes, and the
// columns' widths; ok is false unless every column of every block is
// fixed-width without nulls and the blocks share a schema.
func fixedColumns(blocks []arrow.RecordBatch) (cols [][][]byte, widths []int, ok bool) {
	if len(blocks) == 0 {
		return nil, nil, false
	}
	schema := blocks[0].Schema()
	widths = make([]int, schema.NumFields())
	cols = make([][][]byte, len(blocks))
	for b, rec := range blocks {
		if b > 0 && !rec.Schema().Equal(schema) {
			return nil, nil, false
		}
		cols[b] = make([][]byte, rec.NumCols())
		for c, col := range rec.Columns() {
			v, w, ok := fixedWidth(col)
			if !ok || (b > 0 && w != widths[c]) {
				return nil, nil, false
			}
			cols[b][c], widths[c] = v, w
		}
	}
	return cols, widths, true
}

// fixedBatch is a batch of schema whose column c is bufs[c] (rows values
// of widths[c] bytes each), without copying: the batch lives as long as
// the buffers do.
func fixedBatch(schema *arrow.Schema, bufs [][]byte, rows int) arrow.RecordBatch {
	cols := make([]arrow.Array, len(bufs))
	for c, b := range bufs {
		d := array.NewData(schema.Field(c).Type, rows, []*memory.Buffer{nil, memory.NewBufferBytes(b)}, nil, 0, 0)
		cols[c] = array.MakeFromData(d)
		d.Release()
	}
	return array.NewRecordBatch(schema, cols, int64(rows))
}

// copyRow copies one value of width bytes; the common widths are single
// moves (a memmove call per value costs more than the move).
func copyRow(dst, src []byte, width int) {
	switch width {
	case 8:
		binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src))
	case 4:
		binary.LittleEndian.PutUint32(dst, binary.LittleEndian.Uint32(src))
	default:
		copy(dst[:width], src[:width])
	}
}

// scatterParts cuts blocks (of fixedColumns cols and widths) into parts:
// which[b][i] is the part of row i of block b. The parts are slices of one
// buffer per column, taken from the scratch pool: the caller gives bufs
// back once it is done with the parts.
func scatterParts(schema *arrow.Schema, cols [][][]byte, widths []int, which [][]int32, parts int) (out []arrow.RecordBatch, bufs [][]byte) {
	counts := make([]int, parts+1)
	for _, w := range which {
		for _, j := range w {
			counts[j+1]++
		}
	}
	for j := 1; j <= parts; j++ {
		counts[j] += counts[j-1] // counts[j]: the first row of part j
	}
	rows := counts[parts]
	bufs = make([][]byte, len(widths))
	for c, w := range widths {
		bufs[c] = scratch.get(rows * w)
	}
	next := make([]int, parts)
	for c, w := range widths {
		copy(next, counts[:parts])
		dst := bufs[c]
		for b, wh := range which {
			src := cols[b][c]
			for i, j := range wh {
				k := next[j]
				next[j]++
				copyRow(dst[k*w:], src[i*w:], w)
			}
		}
	}
	out = make([]arrow.RecordBatch, parts)
	for j := range out {
		lo, hi := counts[j], counts[j+1]
		cut := make([][]byte, len(widths))
		for c, w := range widths {
			cut[c] = bufs[c][lo*w : hi*w]
		}
		out[j] = fixedBatch(schema, cut, hi-lo)
	}
	return out, bufs
}

// sortKeys are a key column's values as numbers whose order is the
// column's (compareValues's, without nulls): exact when equal numbers are
// equal keys (integers), else the first 8 bytes of byte keys, and equal
// numbers are ordered by the keys' remaining bytes. ok is false for other
// columns (nulls, floats, other types).
func sortKeys(col arrow.Array) (keys []uint64, exact, ok bool) {
	if col.NullN() > 0 {
		return nil, false, false
	}
	n := col.Len()
	signed := func(v func(int) int64) []uint64 {
		out := make([]uint64, n)
		for i := range out {
			out[i] = uint64(v(i)) ^ (1 << 63)
		}
		return out
	}
	unsigned := func(v func(int) uint64) []uint64 {
		out := make([]uint64, n)
		for i := range out {
			out[i] = v(i)
		}
		return out
	}
	switch x := col.(type) {
	case *array.Int64:
		return signed(func(i int) int64 { return x.Value(i) }), true, true
	case *array.Int32:
		return signed(func(i int) int64 { return int64(x.Value(i)) }), true, true
	case *array.Int16:
		return signed(func(i int) int64 { return int64(x.Value(i)) }), true, true
	case *array.Int8:
		return signed(func(i int) int64 { return int64(x.Value(i)) }), true, true
	case *array.Uint64:
		return unsigned(func(i int) uint64 { return x.Value(i) }), true, true
	case *array.Uint32:
		return unsigned(func(i int) uint64 { return uint64(x.Value(i)) }), true, true
	case *array.Uint16:
		return unsigned(func(i int) uint64 { return uint64(x.Value(i)) }), true, true
	case *array.Uint8:
		return unsigned(func(i int) uint64 { return uint64(x.Value(i)) }), true, true
	}
	if p := keyPrefixes(col); p != nil {
		return p, false, true
	}
	return nil, false, false
}

// keyedRow is a row to sort: its key's number and where it is.
type keyedRow struct {
	key uint64
	src uint64
}

// byteValues is the accessor of a byte key column's values (one that
// keyPrefixes takes).
func byteValues(col arrow.Array) func(int) []byte {
	switch x := col.(type) {
	case *array.FixedSizeBinary:
		return x.Value
	case *array.Binary:
		return x.Value
	case *array.LargeBinary:
		return x.Value
	case *array.String:
		return func(i int) []byte { return unsafe.Slice(unsafe.StringData(x.Value(i)), len(x.Value(i))) }
	}
	return func(int) []byte { return nil }
}

// radixSort sorts rows by key, stably: a least-significant-digit radix
// sort, a byte per pass, skipping the bytes all keys share (a reduce
// task's keys lie in one range of the key space, so their first bits are
// mostly the same).
func radixSort(rows []keyedRow) {
	if len(rows) < 256 {
		slices.SortStableFunc(rows, func(a, b keyedRow) int { return cmp.Compare(a.key, b.key) })
		return
	}
	var counts [8][256]int
	for _, r := range rows {
		k := r.key
		for d := range 8 {
			counts[d][byte(k>>(8*d))]++
		}
	}
	tmp := make([]keyedRow, len(rows))
	src, dst := rows, tmp
	for d := range 8 {
		c := &counts[d]
		if c[byte(rows[0].key>>(8*d))] == len(rows) {
			continue // every key has this byte
		}
		var offs [256]int
		sum := 0
		for v := range 256 {
			offs[v] = sum
			sum += c[v]
		}
		shift := 8 * d
		for _, r := range src {
			v := byte(r.key >> shift)
			dst[offs[v]] = r
			offs[v]++
		}
		src, dst = dst, src
	}
	if &src[0] != &rows[0] {
		copy(rows, src)
	}
}

// bucketRows is about the rows of a bucket of sortRows: their bytes (100
// a row in a sort of records) stay in the core's cache while they are
// sorted and gathered.
const bucketRows = 2048

// sortRows makes a batch of parts' rows (fixedColumns cols and widths)
// sorted by column col, stably, descending reverses the keys' order (as
// sortedSources orders them). Gathering rows in key order straight from
// the parts reads them in random order, a cache miss or two per row; so
// the rows are first moved, in their order, into buckets of ranges of keys
// (reading the parts in order, writing each bucket in order), and each
// bucket, small enough to stay in cache, is then sorted and gathered into
// the output. ok is false when the key column does not have sortKeys. The
// batch lives in scratch buffers the caller gives back (bufs) once done.
func sortRows(schema *arrow.Schema, parts []arrow.RecordBatch, cols [][][]byte, widths []int, col int, descending bool) (_ arrow.RecordBatch, bufs [][]byte, ok bool) {
	keys := make([][]uint64, len(parts))
	exact := true
	var n int
	lo, hi := ^uint64(0), uint64(0)
	for p, rec := range parts {
		k, ex, ok := sortKeys(rec.Column(col))
		if !ok {
			return nil, nil, false
		}
		exact = exact && ex
		for i, v := range k {
			if descending {
				v = ^v
				k[i] = v
			}
			lo, hi = min(lo, v), max(hi, v)
		}
		keys[p] = k
		n += len(k)
	}
	if n == 0 {
		return fixedBatch(schema, make([][]byte, len(widths)), 0), nil, true
	}
	// Buckets of equal ranges of the keys between the least and the
	// greatest: bucket b holds keys whose (key-lo)>>shift is b.
	nb := max(1, n/bucketRows)
	shift := 0
	for shift < 64 && (hi-lo)>>shift >= uint64(nb) {
		shift++
	}
	buckets := 1
	if shift < 64 {
		buckets = int((hi-lo)>>shift) + 1
	}
	bucketOf := func(k uint64) int {
		if shift >= 64 {
			return 0
		}
		return int((k - lo) >> shift)
	}
	starts := make([]int, buckets+1)
	for _, k := range keys {
		for _, v := range k {
			starts[bucketOf(v)+1]++
		}
	}
	for b := 1; b <= buckets; b++ {
		starts[b] += starts[b-1]
	}
	// The rows into their buckets, in order: their columns and their keys.
	tmp := make([][]byte, len(widths))
	for c, w := range widths {
		tmp[c] = scratch.get(n * w)
	}
	defer scratch.put(tmp...)
	tkeys := make([]uint64, n)
	next := slices.Clone(starts[:buckets])
	for p, k := range keys {
		for r, v := range k {
			b := bucketOf(v)
			at := next[b]
			next[b]++
			tkeys[at] = v
			for c, w := range widths {
				copyRow(tmp[c][at*w:], cols[p][c][r*w:], w)
			}
		}
	}
	// Each bucket sorted (its rows' order kept between equal keys) and
	// gathered into the output.
	bufs = make([][]byte, len(widths))
	for c, w := range widths {
		bufs[c] = scratch.get(n * w)
	}
	kw := widths[col]
	sign := 1
	if descending {
		sign = -1
	}
	var rows []keyedRow
	for b := range buckets {
		first, end := starts[b], starts[b+1]
		if first == end {
			continue
		}
		rows = rows[:0]
		for at := first; at < end; at++ {
			rows = append(rows, keyedRow{key: tkeys[at], src: uint64(at)})
		}
		radixSort(rows)
		if !exact {
			// Equal numbers: the keys' bytes decide, then the row's place.
			kb := tmp[col]
			for i := 0; i < len(rows); {
				j := i + 1
				for j < len(rows) && rows[j].key == rows[i].key {
					j++
				}
				if j-i > 1 {
					slices.SortStableFunc(rows[i:j], func(x, y keyedRow) int {
						return sign * bytes.Compare(kb[int(x.src)*kw:int(x.src+1)*kw], kb[int(y.src)*kw:int(y.src+1)*kw])
					})
				}
				i = j
			}
		}
		for i, r := range rows {
			to, from := first+i, int(r.src)
			for c, w := range widths {
				copyRow(bufs[c][to*w:], tmp[c][from*w:], w)
			}
		}
	}
	return fixedBatch(schema, bufs, n), bufs, true
}
