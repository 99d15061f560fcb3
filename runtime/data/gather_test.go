package data

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// denseColumn makes n values of type dt without nulls, from a small range
// (span values) so that equal keys occur.
func denseColumn(t *testing.T, rng *rand.Rand, dt arrow.DataType, n, span int) arrow.Array {
	t.Helper()
	b := array.NewBuilder(memory.DefaultAllocator, dt)
	defer b.Release()
	for range n {
		v := rng.IntN(span)
		switch x := b.(type) {
		case *array.Int64Builder:
			x.Append(int64(v-span/2) * 1e12)
		case *array.Int32Builder:
			x.Append(int32(v - span/2))
		case *array.Int8Builder:
			x.Append(int8(v%200 - 100))
		case *array.Uint8Builder:
			x.Append(uint8(v))
		case *array.Uint64Builder:
			x.Append(uint64(v) << 40)
		case *array.Float64Builder:
			x.Append(float64(v) / 3)
		case *array.StringBuilder:
			// Lengths 0 to 11: prefixes of 8 bytes tie, shorter keys pad.
			s := []byte("abcdefghijk")[:v%12]
			if len(s) > 0 {
				s[len(s)-1] = byte('a' + v%7)
			}
			x.Append(string(s))
		case *array.BinaryBuilder:
			x.Append([]byte{0, byte(v), 1, 2, 3, 4, 5, 6, byte(v * 7), byte(v % 3)}[:1+v%10])
		case *array.FixedSizeBinaryBuilder:
			w := dt.(*arrow.FixedSizeBinaryType).ByteWidth
			k := make([]byte, w)
			k[0] = byte(v % 3)
			k[w-1] = byte(v)
			x.Append(k)
		default:
			t.Fatalf("no generator for %s", dt)
		}
	}
	return b.NewArray()
}

// randomParts makes parts of a key column of type dt and a value column
// numbering the rows (so a row can be told from its equals).
func randomParts(t *testing.T, rng *rand.Rand, dt arrow.DataType, nparts, span int) []arrow.RecordBatch {
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: dt}, {Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil)
	var parts []arrow.RecordBatch
	next := int64(0)
	for range nparts {
		n := rng.IntN(700)
		if rng.IntN(5) == 0 {
			n = 0
		}
		vb := array.NewInt64Builder(memory.DefaultAllocator)
		for range n {
			vb.Append(next)
			next++
		}
		parts = append(parts, array.NewRecordBatch(schema, []arrow.Array{denseColumn(t, rng, dt, n, span), vb.NewArray()}, int64(n)))
	}
	return parts
}

// The radix sort is a stable sort by key.
func TestRadixSortStable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 5, 255, 256, 1000, 20000} {
		for _, spread := range []uint64{1, 3, 1 << 8, 1 << 20, 0} {
			rows := make([]keyedRow, n)
			for i := range rows {
				k := rng.Uint64()
				if spread > 0 {
					k = 0xabcd<<48 | rng.Uint64N(spread)<<(rng.UintN(2)*20)
				}
				rows[i] = keyedRow{key: k, src: uint64(i)}
			}
			want := slices.Clone(rows)
			slices.SortStableFunc(want, func(a, b keyedRow) int {
				switch {
				case a.key < b.key:
					return -1
				case a.key > b.key:
					return 1
				}
				return 0
			})
			radixSort(rows)
			if !slices.Equal(rows, want) {
				t.Fatalf("n=%d spread=%d: radix order differs from the stable sort", n, spread)
			}
		}
	}
}

// The reduce's sort of parts (buckets of key ranges, a radix sort in
// each, then the keys' bytes) orders rows as sortIndices does on the parts
// concatenated: the keys' order, equal keys in their order, either
// direction. The value column numbers the rows.
func TestSortRowsMatchesSortIndices(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	types := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Int8,
		arrow.PrimitiveTypes.Uint8, arrow.PrimitiveTypes.Uint64, &arrow.FixedSizeBinaryType{ByteWidth: 3},
		&arrow.FixedSizeBinaryType{ByteWidth: 10}}
	for _, dt := range types {
		for _, span := range []int{1, 5, 300, 100000} {
			for _, desc := range []bool{false, true} {
				// Up to about 28,000 rows: a dozen buckets.
				parts := randomParts(t, rng, dt, []int{1, 7, 80}[rng.IntN(3)], span)
				cols, widths, ok := fixedColumns(parts)
				if !ok {
					t.Fatalf("%s: parts not fixed-width", dt)
				}
				got, bufs, ok := sortRows(parts[0].Schema(), parts, cols, widths, 0, desc)
				if !ok {
					t.Fatalf("%s: no sort keys", dt)
				}
				if want := sortedReference(ctx, t, parts, desc); !array.RecordEqual(got, want) {
					t.Fatalf("%s span %d desc %v: order differs from sortIndices", dt, span, desc)
				}
				scratch.put(bufs...)
			}
		}
	}
	// Floats, and keys with nulls, are left to the general path.
	parts := randomParts(t, rng, arrow.PrimitiveTypes.Float64, 2, 10)
	cols, widths, _ := fixedColumns(parts)
	if _, _, ok := sortRows(parts[0].Schema(), parts, cols, widths, 0, false); ok {
		t.Fatal("float keys went to the radix sort")
	}
	nulls := randomColumn(t, rng, arrow.PrimitiveTypes.Int64, 100)
	if _, _, ok := sortKeys(nulls); ok && nulls.NullN() > 0 {
		t.Fatal("a key column with nulls went to the radix sort")
	}
}

// Byte keys of other types (strings, binary) compare as sortKeys numbers
// too (the bound search): their first 8 bytes, then the rest.
func TestSortKeysOfByteKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 17))
	for _, dt := range []arrow.DataType{arrow.BinaryTypes.String, arrow.BinaryTypes.Binary} {
		col := denseColumn(t, rng, dt, 300, 100)
		keys, exact, ok := sortKeys(col)
		if !ok || exact {
			t.Fatalf("%s: sortKeys ok=%v exact=%v", dt, ok, exact)
		}
		values := byteValues(col)
		for i := range keys {
			for j := range keys {
				byNum := cmp.Compare(keys[i], keys[j])
				if byNum != 0 && byNum != sign(bytes.Compare(values(i), values(j))) {
					t.Fatalf("%s: keys %q and %q: numbers compare %d", dt, values(i), values(j), byNum)
				}
			}
		}
	}
}

// reduce of fixed-width parts (the radix sort and the gather) makes the
// same block as the general path (concatenate, sort, take).
func TestReduceFixedWidthMatchesGeneral(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dt := range []arrow.DataType{arrow.PrimitiveTypes.Int64, &arrow.FixedSizeBinaryType{ByteWidth: 10}, arrow.PrimitiveTypes.Uint8} {
		for _, desc := range []bool{false, true} {
			parts := randomParts(t, rng, dt, 4, 50)
			spec := shuffleSpec{Kind: "sort", Key: "k", Descending: desc, Name: "Sort(k)"}
			got, done, err := reduce(ctx, spec, parts)
			if err != nil {
				t.Fatal(err)
			}
			if want := sortedReference(ctx, t, parts, desc); !array.RecordEqual(got, want) {
				t.Fatalf("%s desc %v: the gathered block differs from the taken one", dt, desc)
			}
			done()
		}
	}
}

// partition's scatter of fixed-width blocks makes the parts the general
// path (concatenate, take) makes: each row in the part its key's bounds
// name, in input order.
func TestPartitionScatterMatchesTake(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(8, 9))
	for _, kind := range []string{"sort", "repartition", "shuffle"} {
		blocks := randomParts(t, rng, &arrow.FixedSizeBinaryType{ByteWidth: 10}, 5, 300)
		var total int64
		for _, b := range blocks {
			total += b.NumRows()
		}
		bounds := denseColumn(t, rng, &arrow.FixedSizeBinaryType{ByteWidth: 10}, 6, 300)
		order := sortIndices(array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: bounds.DataType()}}, nil),
			[]arrow.Array{bounds}, 6), 0, false)
		bs, err := takeRows(ctx, array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: bounds.DataType()}}, nil),
			[]arrow.Array{bounds}, 6), order)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := encodeBlock(bs)
		if err != nil {
			t.Fatal(err)
		}
		spec := shuffleSpec{Kind: kind, Key: "k", Parts: 7, Bounds: enc, Seed: 3, Index: 2, Offset: 10, Total: total + 20, Name: kind}
		got, done, err := partition(ctx, spec, blocks)
		if err != nil {
			t.Fatal(err)
		}
		// The general path: a block with a variable-width column does not
		// scatter; the same rows with the key as binary.
		wide := make([]arrow.RecordBatch, len(blocks))
		for i, b := range blocks {
			k := b.Column(0).(*array.FixedSizeBinary)
			bb := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
			for r := range k.Len() {
				bb.Append(k.Value(r))
			}
			wide[i] = array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.BinaryTypes.Binary},
				{Name: "v", Type: arrow.PrimitiveTypes.Int64}}, nil), []arrow.Array{bb.NewArray(), b.Column(1)}, b.NumRows())
		}
		bb := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
		for r := range bs.NumRows() {
			bb.Append(bs.Column(0).(*array.FixedSizeBinary).Value(int(r)))
		}
		benc, err := encodeBlock(array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.BinaryTypes.Binary}}, nil),
			[]arrow.Array{bb.NewArray()}, bs.NumRows()))
		if err != nil {
			t.Fatal(err)
		}
		spec.Bounds = benc
		want, _, err := partition(ctx, spec, wide)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: %d parts, want %d", kind, len(got), len(want))
		}
		for j := range got {
			if !array.Equal(got[j].Column(1), want[j].Column(1)) {
				t.Fatalf("%s: part %d holds rows %v, want %v", kind, j, got[j].Column(1), want[j].Column(1))
			}
		}
		done()
	}
}

// A reduce task's output blocks are slices of its sorted rows: a slice of
// fixed-width columns encodes as its rows alone.
func TestEncodeSlicedFixedWidth(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	parts := randomParts(t, rng, &arrow.FixedSizeBinaryType{ByteWidth: 10}, 3, 1000)
	cols, widths, ok := fixedColumns(parts)
	if !ok {
		t.Fatal("fixed-width parts not recognized")
	}
	rec, bufs, _ := sortRows(parts[0].Schema(), parts, cols, widths, 0, false)
	defer scratch.put(bufs...)
	n := rec.NumRows()
	for _, cut := range [][2]int64{{0, n / 3}, {n / 3, 2 * n / 3}, {2 * n / 3, n}} {
		want := rec.NewSlice(cut[0], cut[1])
		enc, err := encodeBlock(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeBlock(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !array.RecordEqual(got, want) {
			t.Fatalf("rows %v: the decoded slice differs", cut)
		}
	}
}

// boundSearch on keys without nulls (compared as sortKeys numbers) finds
// the first bound at or above each key, as a search of the boxed values.
func TestBoundSearchByNumbers(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(12, 13))
	types := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int8, arrow.PrimitiveTypes.Uint64,
		arrow.BinaryTypes.String, arrow.BinaryTypes.Binary, &arrow.FixedSizeBinaryType{ByteWidth: 10}}
	for _, dt := range types {
		for _, nb := range []int{0, 1, 7, 40} {
			// 5,000 keys: boundSearch's table of the bounds' top bits.
			keys := denseColumn(t, rng, dt, 5000, 60)
			raw := denseColumn(t, rng, dt, nb, 60)
			one := func(a arrow.Array) arrow.RecordBatch {
				return array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: dt}}, nil), []arrow.Array{a}, int64(a.Len()))
			}
			sorted, err := takeRows(ctx, one(raw), sortIndices(one(raw), 0, false))
			if err != nil {
				t.Fatal(err)
			}
			bounds := sorted.Column(0)
			boxed := make([]any, bounds.Len())
			for k := range boxed {
				boxed[k] = valueAt(bounds, k)
			}
			search := boundSearch(keys, bounds)
			for i := range keys.Len() {
				want, _ := slices.BinarySearchFunc(boxed, valueAt(keys, i), compareValues)
				if got := search(i); got != want {
					t.Fatalf("%s, %d bounds: bound of %v = %d, want %d", dt, nb, valueAt(keys, i), got, want)
				}
			}
		}
	}
}

// A decoded block's columns are views of the block's bytes (no copy), and
// a stream cut short or with a wrong message length (under a right
// checksum) fails with an error, never a panic or a read past its end.
func TestDecodeBlockViewsItsBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 15))
	parts := randomParts(t, rng, &arrow.FixedSizeBinaryType{ByteWidth: 10}, 1, 1000)
	for parts[0].NumRows() == 0 {
		parts = randomParts(t, rng, &arrow.FixedSizeBinaryType{ByteWidth: 10}, 1, 1000)
	}
	enc, err := encodeBlock(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeBlock(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !array.RecordEqual(rec, parts[0]) {
		t.Fatal("the decoded block differs")
	}
	vals, _, _ := fixedWidth(rec.Column(0))
	lo, hi := uintptr(unsafe.Pointer(&enc[0])), uintptr(unsafe.Pointer(&enc[len(enc)-1]))
	if p := uintptr(unsafe.Pointer(&vals[0])); p < lo || p > hi {
		t.Fatal("the decoded column is a copy, not a view of the block")
	}
	// The framing this reader reads itself (the flatbuffers inside are
	// Arrow's, trusted behind the checksum): a stream cut anywhere, and
	// the first message's length field changed.
	for i := range 2000 {
		bad := slices.Clone(enc)
		if i%2 == 0 {
			bad = bad[:blockHeader+rng.IntN(len(bad)-blockHeader)]
		} else {
			binary.LittleEndian.PutUint32(bad[blockHeader+4:], rng.Uint32N(uint32(2*len(bad))))
		}
		binary.LittleEndian.PutUint32(bad[4:], crc32.Checksum(bad[blockHeader:], castagnoli))
		if rec, err := decodeBlock(bad); err == nil {
			_ = validate(rec)
		}
	}
}

// sortedReference is what the general path makes of parts: joined, then
// taken in sortIndices' order of column 0.
func sortedReference(ctx context.Context, t *testing.T, parts []arrow.RecordBatch, desc bool) arrow.RecordBatch {
	t.Helper()
	all, err := concatBatches(parts[0].Schema(), parts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := takeRows(ctx, all, sortIndices(all, 0, desc))
	if err != nil {
		t.Fatal(err)
	}
	return want
}
