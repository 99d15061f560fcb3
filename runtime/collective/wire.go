package collective

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unsafe"
)

// A frame is one piece of an operation's data from one member to its
// neighbour: a fixed header, then the payload, the chunk's elements in
// little-endian order.
const headerSize = 24

// frameHeader says what a payload is: the operation's sequence number in
// the group (members must agree on it), the chunk, and its size in bytes.
type frameHeader struct {
	op    uint8 // which operation (opAllReduce, ...)
	dtype uint8 // dtypeFloat32 or dtypeFloat64
	seq   uint64
	chunk uint32
	size  uint64
}

const (
	opAllReduce uint8 = 1 + iota
	opAllGather
	opReduceScatter
	opBroadcast
	opBarrier
)

const (
	dtypeFloat32 uint8 = 1
	dtypeFloat64 uint8 = 2
)

func (h frameHeader) encode(b *[headerSize]byte) {
	b[0], b[1], b[2], b[3] = 'G', 'C', h.op, h.dtype
	binary.LittleEndian.PutUint32(b[4:], h.chunk)
	binary.LittleEndian.PutUint64(b[8:], h.seq)
	binary.LittleEndian.PutUint64(b[16:], h.size)
}

// decodeHeader reads a header; want is what the receiver expects, and a
// frame that is not exactly that is an error (a member running another
// operation, another element type or other lengths, or a stranger).
func decodeHeader(b *[headerSize]byte, want frameHeader) error {
	if b[0] != 'G' || b[1] != 'C' {
		return fmt.Errorf("collective: not a collective frame")
	}
	got := frameHeader{op: b[2], dtype: b[3], chunk: binary.LittleEndian.Uint32(b[4:]),
		seq: binary.LittleEndian.Uint64(b[8:]), size: binary.LittleEndian.Uint64(b[16:])}
	if got != want {
		return fmt.Errorf("collective: a member sent %s, this member expected %s: every member must call the same operations in the same order with slices of the same length", got, want)
	}
	return nil
}

func (h frameHeader) String() string {
	names := map[uint8]string{opAllReduce: "AllReduce", opAllGather: "AllGather", opReduceScatter: "ReduceScatter",
		opBroadcast: "Broadcast", opBarrier: "Barrier"}
	types := map[uint8]string{dtypeFloat32: "float32", dtypeFloat64: "float64"}
	op, ty := names[h.op], types[h.dtype]
	if op == "" {
		op = fmt.Sprintf("operation %d", h.op)
	}
	if ty == "" {
		ty = fmt.Sprintf("type %d", h.dtype)
	}
	return fmt.Sprintf("%s #%d of %s, chunk %d of %d bytes", op, h.seq, ty, h.chunk, h.size)
}

// Float is the element types the operations take.
type Float interface{ ~float32 | ~float64 }

func dtypeOf[T Float]() uint8 {
	var x T
	if unsafe.Sizeof(x) == 4 {
		return dtypeFloat32
	}
	return dtypeFloat64
}

// littleEndian: the payload is the slice's memory as it is.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// bytesOf is xs's memory (on a little-endian machine, the wire format).
func bytesOf[T Float](xs []T) []byte {
	if len(xs) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&xs[0])), len(xs)*int(unsafe.Sizeof(xs[0])))
}

// writePayload writes xs little-endian.
func writePayload[T Float](w io.Writer, xs []T) error {
	if littleEndian {
		_, err := w.Write(bytesOf(xs))
		return err
	}
	buf := make([]byte, 0, 64<<10)
	for _, x := range xs {
		buf = appendFloat(buf, x)
		if len(buf) == cap(buf) {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	_, err := w.Write(buf)
	return err
}

func appendFloat[T Float](b []byte, x T) []byte {
	if unsafe.Sizeof(x) == 4 {
		return binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(x)))
	}
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(x)))
}

// readPayload reads len(xs) little-endian elements into xs.
func readPayload[T Float](r io.Reader, xs []T) error {
	if littleEndian {
		_, err := io.ReadFull(r, bytesOf(xs))
		return err
	}
	var x T
	size := int(unsafe.Sizeof(x))
	buf := make([]byte, 64<<10/size*size)
	for done := 0; done < len(xs); {
		n := min(len(buf)/size, len(xs)-done)
		if _, err := io.ReadFull(r, buf[:n*size]); err != nil {
			return err
		}
		for i := range n {
			if size == 4 {
				xs[done+i] = T(math.Float32frombits(binary.LittleEndian.Uint32(buf[i*4:])))
			} else {
				xs[done+i] = T(math.Float64frombits(binary.LittleEndian.Uint64(buf[i*8:])))
			}
		}
		done += n
	}
	return nil
}

// errEOF is io.EOF and io.ErrUnexpectedEOF: the connection ended.
var errEOF = io.ErrUnexpectedEOF

// readFull reads len(b) bytes; an early end is io.ErrUnexpectedEOF.
func readFull(r io.Reader, b []byte) (int, error) {
	n, err := io.ReadFull(r, b)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
