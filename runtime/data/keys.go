package data

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"sort"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Key comparisons for Sort, GroupBy and MapGroups, on the columns' typed
// values: boxing every key into an `any` (valueAt) and comparing those
// (compareValues) cost more than the rest of a sort of a large block. The
// order is compareValues's: nulls first, numbers by value, strings and
// binary by bytes.

// crossCompare returns a function comparing row i of a with row j of b,
// when both are of one type it knows; ok is false otherwise (the caller
// then compares boxed values).
func crossCompare(a, b arrow.Array) (f func(i, j int) int, ok bool) {
	if !arrow.TypeEqual(a.DataType(), b.DataType()) {
		return nil, false
	}
	switch x := a.(type) {
	case *array.Int64:
		return ordered(a, b, x.Value, b.(*array.Int64).Value), true
	case *array.Int32:
		return ordered(a, b, x.Value, b.(*array.Int32).Value), true
	case *array.Int16:
		return ordered(a, b, x.Value, b.(*array.Int16).Value), true
	case *array.Int8:
		return ordered(a, b, x.Value, b.(*array.Int8).Value), true
	case *array.Uint64:
		return ordered(a, b, x.Value, b.(*array.Uint64).Value), true
	case *array.Uint32:
		return ordered(a, b, x.Value, b.(*array.Uint32).Value), true
	case *array.Uint16:
		return ordered(a, b, x.Value, b.(*array.Uint16).Value), true
	case *array.Uint8:
		return ordered(a, b, x.Value, b.(*array.Uint8).Value), true
	case *array.Float64:
		return ordered(a, b, x.Value, b.(*array.Float64).Value), true
	case *array.Float32:
		return ordered(a, b, x.Value, b.(*array.Float32).Value), true
	case *array.String:
		return ordered(a, b, x.Value, b.(*array.String).Value), true
	case *array.LargeString:
		return ordered(a, b, x.Value, b.(*array.LargeString).Value), true
	case *array.Binary:
		return byteOrdered(a, b, x.Value, b.(*array.Binary).Value), true
	case *array.LargeBinary:
		return byteOrdered(a, b, x.Value, b.(*array.LargeBinary).Value), true
	case *array.FixedSizeBinary:
		return byteOrdered(a, b, x.Value, b.(*array.FixedSizeBinary).Value), true
	}
	return nil, false
}

func ordered[T cmp.Ordered](a, b arrow.Array, av func(int) T, bv func(int) T) func(i, j int) int {
	if a.NullN() == 0 && b.NullN() == 0 {
		return func(i, j int) int { return cmp.Compare(av(i), bv(j)) }
	}
	return func(i, j int) int {
		if c, both := nullOrder(a.IsNull(i), b.IsNull(j)); both {
			return c
		}
		return cmp.Compare(av(i), bv(j))
	}
}

func byteOrdered(a, b arrow.Array, av func(int) []byte, bv func(int) []byte) func(i, j int) int {
	if a.NullN() == 0 && b.NullN() == 0 {
		return func(i, j int) int { return bytes.Compare(av(i), bv(j)) }
	}
	return func(i, j int) int {
		if c, both := nullOrder(a.IsNull(i), b.IsNull(j)); both {
			return c
		}
		return bytes.Compare(av(i), bv(j))
	}
}

// nullOrder orders two values of which at least one may be null (nulls
// first); decided is false when neither is.
func nullOrder(an, bn bool) (c int, decided bool) {
	switch {
	case an && bn:
		return 0, true
	case an:
		return -1, true
	case bn:
		return 1, true
	}
	return 0, false
}

// keyPrefixes is, for a column of byte keys without nulls (binary,
// strings), each row's first 8 bytes as a big-endian number (shorter keys
// padded with zeros): two keys whose prefixes differ compare as them. Nil
// for other columns.
func keyPrefixes(col arrow.Array) []uint64 {
	if col.NullN() > 0 {
		return nil
	}
	var value func(int) []byte
	switch x := col.(type) {
	case *array.FixedSizeBinary:
		value = x.Value
	case *array.Binary:
		value = x.Value
	case *array.LargeBinary:
		value = x.Value
	case *array.String:
		value = func(i int) []byte { return unsafe.Slice(unsafe.StringData(x.Value(i)), len(x.Value(i))) }
	default:
		return nil
	}
	out := make([]uint64, col.Len())
	var pad [8]byte
	for i := range out {
		v := value(i)
		if len(v) >= 8 {
			out[i] = binary.BigEndian.Uint64(v)
			continue
		}
		pad = [8]byte{}
		copy(pad[:], v)
		out[i] = binary.BigEndian.Uint64(pad[:])
	}
	return out
}

// rowCompare compares rows i and j of column col, typed when it can.
func rowCompare(col arrow.Array) func(i, j int) int {
	if f, ok := crossCompare(col, col); ok {
		return f
	}
	return func(i, j int) int { return compareValues(valueAt(col, i), valueAt(col, j)) }
}

// boundTableKeys is the fewest keys boundSearch builds its table of the
// bounds' top bits for.
const boundTableKeys = 4096

// boundSearch returns, for row i of keys, the index of the first of
// bounds' rows at or above it (equal keys share a part).
func boundSearch(keys, bounds arrow.Array) func(i int) int {
	n := bounds.Len()
	if arrow.TypeEqual(keys.DataType(), bounds.DataType()) {
		// Keys as numbers (sortKeys): a comparison is mostly one of two
		// numbers, not of two values through their accessors.
		kn, exact, ok := sortKeys(keys)
		bn, _, bok := sortKeys(bounds)
		if ok && bok {
			var kv, bv func(int) []byte
			if !exact {
				kv, bv = byteValues(keys), byteValues(bounds)
			}
			// For many keys, first[t] is the first bound whose number's top
			// 16 bits are t or more: the bound of a key with top bits t is
			// in [first[t], first[t+1]], mostly a range of none or one.
			var first []int32
			if len(kn) >= boundTableKeys {
				first = make([]int32, 1<<16+1)
				b := 0
				for t := range first {
					for b < n && bn[b]>>48 < uint64(t) {
						b++
					}
					first[t] = int32(b)
				}
			}
			return func(i int) int {
				k := kn[i]
				lo, hi := 0, n // the first bound at or above key i is in [lo, hi]
				if first != nil {
					lo, hi = int(first[k>>48]), int(first[k>>48+1])
				}
				for lo < hi {
					m := int(uint(lo+hi) >> 1)
					c := cmp.Compare(k, bn[m])
					if c == 0 && !exact {
						c = bytes.Compare(kv(i), bv(m))
					}
					if c <= 0 {
						hi = m
					} else {
						lo = m + 1
					}
				}
				return lo
			}
		}
	}
	if f, ok := crossCompare(keys, bounds); ok {
		return func(i int) int { return sort.Search(n, func(k int) bool { return f(i, k) <= 0 }) }
	}
	bv := make([]any, n)
	for k := range bv {
		bv[k] = valueAt(bounds, k)
	}
	return func(i int) int {
		k := valueAt(keys, i)
		return sort.Search(n, func(j int) bool { return compareValues(bv[j], k) >= 0 })
	}
}
