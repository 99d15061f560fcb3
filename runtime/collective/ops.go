package collective

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
	"unsafe"
)

// ReduceOp combines the members' values element by element.
type ReduceOp int

// The reductions (Ray's ReduceOp, and Mean: the sum over the group's size).
const (
	Sum ReduceOp = iota
	Product
	Min
	Max
	Mean
)

func (op ReduceOp) String() string {
	switch op {
	case Sum:
		return "sum"
	case Product:
		return "product"
	case Min:
		return "min"
	case Max:
		return "max"
	case Mean:
		return "mean"
	}
	return fmt.Sprintf("ReduceOp(%d)", int(op))
}

func reduceInto[T Float](dst, src []T, op ReduceOp) {
	src = src[:len(dst)]
	switch op {
	case Sum, Mean:
		for i := range dst {
			dst[i] += src[i]
		}
	case Product:
		for i := range dst {
			dst[i] *= src[i]
		}
	case Min:
		for i := range dst {
			dst[i] = min(dst[i], src[i])
		}
	case Max:
		for i := range dst {
			dst[i] = max(dst[i], src[i])
		}
	}
}

// bounds is part i of n of a slice of length l: [i*l/n, (i+1)*l/n).
func bounds(i, n, l int) (int, int) { return i * l / n, (i + 1) * l / n }

func mod(a, n int) int { return ((a % n) + n) % n }

// op is one operation in progress: the group locked, the connections'
// deadlines set, its sequence number taken.
type op struct {
	g        *Group
	kind     uint8
	seq      uint64
	ctx      context.Context
	deadline time.Time
	stop     func() bool
}

func (g *Group) begin(ctx context.Context, kind uint8) (*op, error) {
	g.mu.Lock()
	if g.broken != nil {
		g.mu.Unlock()
		return nil, g.broken
	}
	select {
	case <-g.closed:
		g.mu.Unlock()
		return nil, errors.New("collective: the group is closed")
	default:
	}
	g.seq++
	o := &op{g: g, kind: kind, seq: g.seq, ctx: ctx}
	if g.size > 1 {
		deadline, ok := ctx.Deadline()
		if !ok {
			deadline = time.Now().Add(g.timeout)
		}
		o.deadline = deadline
		_ = g.next.SetDeadline(deadline)
		_ = g.prev.SetDeadline(deadline)
		// A cancelled context unblocks the reads and writes at once.
		o.stop = context.AfterFunc(ctx, func() {
			_ = g.next.SetDeadline(time.Now())
			_ = g.prev.SetDeadline(time.Now())
		})
	}
	return o, nil
}

// end finishes the operation; after a failure the group is broken and its
// connections closed, so that the failure reaches every member.
func (o *op) end(err error) error {
	g := o.g
	defer g.mu.Unlock()
	if o.stop != nil {
		o.stop()
	}
	if err == nil {
		if g.size > 1 {
			_ = g.next.SetDeadline(time.Time{})
			_ = g.prev.SetDeadline(time.Time{})
		}
		return nil
	}
	name := frameHeader{op: o.kind}.String()
	name = name[:indexSpace(name)]
	switch {
	case o.ctx.Err() != nil:
		err = fmt.Errorf("collective: group %s, rank %d: %s: %w", g.name, g.rank, name, o.ctx.Err())
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("collective: group %s, rank %d: %s: no answer within the group's timeout (%s): %w", g.name, g.rank, name, g.timeout, context.DeadlineExceeded)
	case isConnErr(err) || errors.Is(err, errSegmentBroken):
		err = fmt.Errorf("%w: group %s, rank %d: %s: %w", ErrMemberLost, g.name, g.rank, name, err)
	default:
		err = fmt.Errorf("collective: group %s, rank %d: %s: %w", g.name, g.rank, name, err)
	}
	g.broken = err
	if g.shm != nil {
		g.shm.breakSegment()
	}
	g.closeConns()
	return err
}

func indexSpace(s string) int {
	for i, c := range s {
		if c == ' ' {
			return i
		}
	}
	return len(s)
}

func isConnErr(err error) bool {
	var ne net.Error
	return errors.Is(err, net.ErrClosed) || errors.As(err, &ne) || errors.Is(err, errEOF) || errors.Is(err, io.EOF)
}

// send writes one frame to the next member.
func send[T Float](o *op, chunk int, xs []T) error {
	g := o.g
	var b [headerSize]byte
	frameHeader{op: o.kind, dtype: dtypeOf[T](), seq: o.seq, chunk: uint32(chunk), size: uint64(len(xs)) * uint64(unsafe.Sizeof(*new(T)))}.encode(&b)
	if _, err := g.nextW.Write(b[:]); err != nil {
		return err
	}
	if err := writePayload(g.nextW, xs); err != nil {
		return err
	}
	return g.nextW.Flush()
}

// recv reads one frame from the previous member into into (copy) or
// reduces it into into (op's reduction, through scratch).
func recv[T Float](o *op, chunk int, into, scratch []T, reduce bool, rop ReduceOp) error {
	g := o.g
	var b [headerSize]byte
	if _, err := readFull(g.prevR, b[:]); err != nil {
		return err
	}
	want := frameHeader{op: o.kind, dtype: dtypeOf[T](), seq: o.seq, chunk: uint32(chunk), size: uint64(len(into)) * uint64(unsafe.Sizeof(*new(T)))}
	if err := decodeHeader(&b, want); err != nil {
		return err
	}
	if !reduce {
		return readPayload(g.prevR, into)
	}
	// Reduce piece by piece as the data arrives: the piece just read is
	// still in the cache when it is added in, and the sender goes on
	// filling the socket meanwhile.
	for len(into) > 0 {
		k := min(len(into), len(scratch))
		if err := readPayload(g.prevR, scratch[:k]); err != nil {
			return err
		}
		reduceInto(into[:k], scratch[:k], rop)
		into = into[k:]
	}
	return nil
}

// reduceSegment is how many bytes a reduction receives at a time (its
// scratch buffer): small enough to stay in the cache, large enough that
// each read is one big copy. 0: a whole part at once (the benchmark
// compares).
var reduceSegment = 256 << 10

// scratchFor is the scratch a reduction of parts of up to part elements
// needs.
func scratchFor[T Float](part int) []T {
	n := part
	if reduceSegment > 0 {
		n = min(part, max(reduceSegment/int(unsafe.Sizeof(*new(T))), 1))
	}
	return make([]T, n)
}

// exchange sends one chunk to the next member while it receives one from
// the previous: both directions at once, or two members sending large
// chunks to each other would wait on each other's full buffers.
func exchange[T Float](o *op, sendChunk int, out []T, recvChunk int, into, scratch []T, reduce bool, rop ReduceOp) error {
	errc := make(chan error, 1)
	go func() { errc <- send(o, sendChunk, out) }()
	rerr := recv(o, recvChunk, into, scratch, reduce, rop)
	if rerr != nil {
		// Unblock the send (the operation fails anyway).
		_ = o.g.next.SetDeadline(time.Now())
	}
	serr := <-errc
	if rerr != nil {
		return rerr
	}
	return serr
}

// AllReduce combines buf across the group, element by element; every
// member ends with the result in buf. Ring algorithm: a reduce-scatter
// then an all-gather, each member sending 2(n-1)/n of buf.
func AllReduce[T Float](ctx context.Context, g *Group, buf []T, rop ReduceOp) error {
	o, err := g.begin(ctx, opAllReduce)
	if err != nil {
		return err
	}
	return o.end(allReduce(o, buf, rop))
}

func allReduce[T Float](o *op, buf []T, rop ReduceOp) error {
	n, r, l := o.g.size, o.g.rank, len(buf)
	if n > 1 && o.g.useShm {
		if err := shmReduce(o, o.g.shm, buf, nil, rop); err != nil {
			return err
		}
	} else if n > 1 {
		part := func(i int) []T { lo, hi := bounds(i, n, l); return buf[lo:hi] }
		scratch := scratchFor[T]((l + n - 1) / n)
		for s := 0; s < n-1; s++ {
			si, ri := mod(r-s, n), mod(r-s-1, n)
			if err := exchange(o, si, part(si), ri, part(ri), scratch, true, rop); err != nil {
				return err
			}
		}
		for s := 0; s < n-1; s++ {
			si, ri := mod(r+1-s, n), mod(r-s, n)
			if err := exchange(o, si, part(si), ri, part(ri), nil, false, rop); err != nil {
				return err
			}
		}
	}
	if rop == Mean {
		for i := range buf {
			buf[i] /= T(n)
		}
	}
	return nil
}

// ReduceScatter combines in across the group and returns this member's
// part of the result: in is split into Size() parts, part i being
// in[i*len/n : (i+1)*len/n], and member i gets part i. in is not changed.
func ReduceScatter[T Float](ctx context.Context, g *Group, in []T, rop ReduceOp) ([]T, error) {
	o, err := g.begin(ctx, opReduceScatter)
	if err != nil {
		return nil, err
	}
	n, r, l := g.size, g.rank, len(in)
	var out []T
	if n > 1 && g.useShm {
		lo, hi := bounds(r, n, l)
		out = make([]T, hi-lo)
		err = shmReduce(o, g.shm, in, out, rop)
	} else {
		buf := append([]T(nil), in...)
		part := func(i int) []T { lo, hi := bounds(i, n, l); return buf[lo:hi] }
		scratch := scratchFor[T]((l + n - 1) / n)
		for s := 0; s < n-1 && err == nil; s++ {
			si, ri := mod(r-s-1, n), mod(r-s-2, n)
			err = exchange(o, si, part(si), ri, part(ri), scratch, true, rop)
		}
		out = part(r)
	}
	if err = o.end(err); err != nil {
		return nil, err
	}
	if rop == Mean {
		for i := range out {
			out[i] /= T(n)
		}
	}
	return out, nil
}

// AllGather returns every member's in, in rank order (length Size()×len(in);
// every member's in must have the same length).
func AllGather[T Float](ctx context.Context, g *Group, in []T) ([]T, error) {
	o, err := g.begin(ctx, opAllGather)
	if err != nil {
		return nil, err
	}
	n, r, m := g.size, g.rank, len(in)
	out := make([]T, n*m)
	if n > 1 && g.useShm {
		err = shmAllGather(o, g.shm, in, out)
	} else {
		copy(out[r*m:], in)
		part := func(i int) []T { return out[i*m : (i+1)*m] }
		for s := 0; s < n-1 && err == nil; s++ {
			si, ri := mod(r-s, n), mod(r-s-1, n)
			err = exchange(o, si, part(si), ri, part(ri), nil, false, Sum)
		}
	}
	if err = o.end(err); err != nil {
		return nil, err
	}
	return out, nil
}

// broadcastPiece is how much of a broadcast goes at once: each member
// forwards a piece while the next one arrives.
const broadcastPiece = 1 << 20

// Broadcast sends root's buf to every member's buf.
func Broadcast[T Float](ctx context.Context, g *Group, buf []T, root int) error {
	if root < 0 || root >= g.size {
		return fmt.Errorf("collective: broadcast from rank %d in a group of %d", root, g.size)
	}
	o, err := g.begin(ctx, opBroadcast)
	if err != nil {
		return err
	}
	n, r := g.size, g.rank
	if n == 1 {
		return o.end(nil)
	}
	if g.useShm {
		return o.end(shmBroadcast(o, g.shm, buf, root))
	}
	step := max(broadcastPiece/int(unsafe.Sizeof(*new(T))), 1)
	lastHop := mod(r+1, n) == root
	for i := 0; i*step < len(buf) || (i == 0 && len(buf) == 0); i++ {
		piece := buf[i*step : min((i+1)*step, len(buf))]
		if r != root {
			if err = recv(o, i, piece, nil, false, Sum); err != nil {
				break
			}
		}
		if !lastHop {
			if err = send(o, i, piece); err != nil {
				break
			}
		}
	}
	return o.end(err)
}

// Barrier returns once every member has called it.
func Barrier(ctx context.Context, g *Group) error {
	o, err := g.begin(ctx, opBarrier)
	if err != nil {
		return err
	}
	if g.useShm {
		return o.end(g.shm.agree(o, dtypeFloat32, 0))
	}
	return o.end(allReduce(o, make([]float32, 1), Sum))
}
