package collective

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"
)

// Members on one machine do not need the kernel's TCP stack to move their
// data: the group's rank 0 makes a segment of shared memory (a file in
// /dev/shm, which is memory, never a disk or a network filesystem), every
// member maps it, and the operations copy through it with barriers in it
// (futexes), as NCCL's and Gloo's shared-memory transports do. The ring's
// TCP connections stay: they formed the group, they agree on the
// segment, and a member that dies closes them, which is how the others
// learn of it while they wait at a barrier.
//
// Whether a group uses the segment is decided once, at Init, by every
// member together (one of them unable to map it, say on another node or
// in another pod, and all of them use the ring).

// shmDir is where segments live: tmpfs, memory shared by the processes
// that see the same mount.
const shmDir = "/dev/shm"

// segPrefix starts a segment file's name; the rank-0 process's id follows.
const segPrefix = "goray-collective-"

// segmentBudget bounds a segment's size: a pod's /dev/shm is often small
// (64 MiB where nothing larger is mounted). Operations on more than fits
// go through it in chunks. (A variable: tests make chunks small.)
var segmentBudget = 32 << 20

const (
	segMagic      = "GRCSHM01"
	segNonceLen   = 16
	segBarrierOff = 64  // count, generation, broken: uint32s
	segHeadersOff = 128 // a member's operation header, 64 bytes each
	segHeaderSize = 64
	segPage       = 4096
)

// segment is this member's mapping of the group's shared memory: a
// header (magic, nonce), the barrier's words, each member's operation
// header, then n+1 areas of area bytes: one per member and one for
// results.
type segment struct {
	mem     []byte
	n, rank int
	data    int // offset of the first area
	area    int // bytes per area, a multiple of 8n
	path    string
	unmap   func()
}

// segmentLayout is the data offset and the area size for n members within
// budget bytes (area 0 when budget is too small).
func segmentLayout(n, budget int) (data, area int) {
	data = (segHeadersOff + n*segHeaderSize + segPage - 1) / segPage * segPage
	area = (budget - data) / (n + 1) / (8 * n) * (8 * n)
	return data, max(area, 0)
}

func (s *segment) size() int { return s.data + (s.n+1)*s.area }

func (s *segment) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&s.mem[off])) }

func (s *segment) count() *uint32  { return s.word(segBarrierOff) }
func (s *segment) gen() *uint32    { return s.word(segBarrierOff + 4) }
func (s *segment) broken() *uint32 { return s.word(segBarrierOff + 8) }

// areaOf is area m (m == n: the results) as T elements.
func areaOf[T Float](s *segment, m int) []T {
	var x T
	p := unsafe.Pointer(&s.mem[s.data+m*s.area])
	return unsafe.Slice((*T)(p), s.area/int(unsafe.Sizeof(x)))
}

// info is what rank 0 sends round the ring for the others to map its
// segment: the file's path and the nonce at its head (which proves it
// is the same memory, not a file of the same name elsewhere).
func (s *segment) info() string {
	return "shm " + s.path + " " + hex.EncodeToString(s.mem[len(segMagic):len(segMagic)+segNonceLen])
}

// infoWords is the room for a segment's info on the ring: a Broadcast of
// float64s whose bits are the text's bytes (the ring moves bits, it does
// no arithmetic on a Broadcast).
const infoWords = 64

// packInfo is info in infoWords float64s (empty if it does not fit).
func packInfo(info string) []float64 {
	b := make([]byte, infoWords*8)
	if len(info) < len(b) {
		copy(b, info)
	}
	out := make([]float64, infoWords)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[i*8:]))
	}
	return out
}

// unpackInfo is packInfo's text.
func unpackInfo(xs []float64) string {
	b := make([]byte, 0, len(xs)*8)
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parseShmInfo reads what info wrote.
func parseShmInfo(v string) (path string, nonce []byte, ok bool) {
	f := strings.Fields(v)
	if len(f) != 3 || f[0] != "shm" {
		return "", nil, false
	}
	nonce, err := hex.DecodeString(f[2])
	if err != nil || len(nonce) != segNonceLen {
		return "", nil, false
	}
	return f[1], nonce, true
}

// checkNonce says whether the mapping holds the segment rank 0 made.
func (s *segment) checkNonce(nonce []byte) bool {
	return len(s.mem) >= segPage && string(s.mem[:len(segMagic)]) == segMagic &&
		string(s.mem[len(segMagic):len(segMagic)+segNonceLen]) == string(nonce)
}

// errSegmentBroken: another member left the group or failed an operation.
var errSegmentBroken = errors.New("another member left the group or failed")

// breakSegment marks the group broken for every member and wakes those
// waiting at a barrier. It changes the generation's word above the low
// 16 bits, which count the barriers passed: a member woken by it sees its
// barrier not passed, while one whose barrier was passed just before (the
// member that broke it left after the operation) still goes on.
func (s *segment) breakSegment() {
	atomic.StoreUint32(s.broken(), 1)
	atomic.AddUint32(s.gen(), 1<<16)
	futexWake(s.gen())
}

// passed says whether the barrier entered at generation gen is passed.
func (s *segment) passed(gen uint32) bool { return atomic.LoadUint32(s.gen())&0xffff != gen&0xffff }

// barrier returns once every member has reached it, or with why not:
// the group broken, the operation's context or deadline ended, a
// neighbour's connection gone (a member that died).
func (s *segment) barrier(o *op) error {
	gen := atomic.LoadUint32(s.gen())
	if atomic.LoadUint32(s.broken()) != 0 {
		return errSegmentBroken
	}
	if atomic.AddUint32(s.count(), 1) == uint32(s.n) {
		atomic.StoreUint32(s.count(), 0)
		atomic.AddUint32(s.gen(), 1)
		futexWake(s.gen())
		return nil
	}
	// A short spin first: with a core free the last member is usually
	// microseconds away, and a futex sleep costs a wake-up.
	for range 256 {
		if s.passed(gen) {
			return nil
		}
	}
	nextCheck := time.Now().Add(barrierCheck)
	for !s.passed(gen) {
		if atomic.LoadUint32(s.broken()) != 0 {
			return errSegmentBroken
		}
		futexWait(s.gen(), atomic.LoadUint32(s.gen()), barrierCheck)
		if now := time.Now(); now.After(nextCheck) {
			nextCheck = now.Add(barrierCheck)
			// A barrier passed while the check ran is passed: the members
			// that went on may have left the group already, closing their
			// connections, which the check then sees.
			if err := o.stillOn(); err != nil && !s.passed(gen) {
				return err
			}
		}
	}
	return nil
}

// barrierCheck is how often a member waiting at a barrier checks its
// context, its deadline and its neighbours' connections.
const barrierCheck = 20 * time.Millisecond

// stillOn is nil while the operation may go on waiting: its context not
// done, its deadline not passed, the group not closed, and both ring
// neighbours still connected (a member that died has its connections
// closed by the kernel; one that failed closes them itself).
func (o *op) stillOn() error {
	g := o.g
	if err := o.ctx.Err(); err != nil {
		return err
	}
	if !o.deadline.IsZero() && time.Now().After(o.deadline) {
		return os.ErrDeadlineExceeded
	}
	select {
	case <-g.closed:
		return errors.New("the group was closed")
	default:
	}
	// Peek, never read, from the previous member: what it may send after
	// this operation belongs to the next one. Nothing ever comes from the
	// next member after the handshake.
	_ = g.prev.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, perr := g.prevR.Peek(1)
	_ = g.prev.SetReadDeadline(o.deadline)
	var one [1]byte
	_ = g.next.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, nerr := g.next.Read(one[:])
	_ = g.next.SetReadDeadline(o.deadline)
	for _, err := range []error{perr, nerr} {
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err // a connection error: op.end says the member was lost
		}
	}
	return nil
}

// agree writes this member's operation header and checks, after a
// barrier, that every member wrote the same: the same operation, element
// type and length (the ring's frames check the same thing).
func (s *segment) agree(o *op, dtype uint8, length int) error {
	put := func(b []byte, h frameHeader) {
		b[0], b[1] = h.op, h.dtype
		binary.LittleEndian.PutUint64(b[8:], h.seq)
		binary.LittleEndian.PutUint64(b[16:], h.size)
	}
	get := func(b []byte) frameHeader {
		return frameHeader{op: b[0], dtype: b[1], seq: binary.LittleEndian.Uint64(b[8:]), size: binary.LittleEndian.Uint64(b[16:])}
	}
	// Two places per member, by the sequence number's parity: a member
	// that passed this barrier may write its next operation's header
	// before the others read this one's (an operation of no chunks has no
	// second barrier), but not the one after (its first barrier waits).
	half := segHeaderSize / 2
	head := func(m int) []byte {
		off := segHeadersOff + m*segHeaderSize + int(o.seq%2)*half
		return s.mem[off : off+half]
	}
	mine := frameHeader{op: o.kind, dtype: dtype, seq: o.seq, size: uint64(length)}
	put(head(s.rank), mine)
	if err := s.barrier(o); err != nil {
		return err
	}
	for m := range s.n {
		if got := get(head(m)); got != mine {
			return fmt.Errorf("member %d called %s, this member %s: every member must call the same operations in the same order with slices of the same length",
				m, shmOpString(got), shmOpString(mine))
		}
	}
	return nil
}

func shmOpString(h frameHeader) string {
	s, _, _ := strings.Cut(frameHeader{op: h.op, dtype: h.dtype, seq: h.seq}.String(), ", chunk")
	return fmt.Sprintf("%s of %d elements", s, h.size)
}

// partChunk is the elements of part j (of n, over a length of l) that
// chunk c carries, s at a time: [a, b), empty past the part's end.
func partChunk(j, n, l, c, s int) (int, int) {
	lo, hi := bounds(j, n, l)
	a := min(lo+c*s, hi)
	return a, min(a+s, hi)
}

// shmReduce is AllReduce (out nil: the result goes back into buf) or
// ReduceScatter (this member's part of the result into out) through the
// segment. Chunk c takes s elements of every part: each member copies its
// pieces into its area, then reduces its own part's piece across every
// member's area, then (AllReduce) copies every part's result back.
func shmReduce[T Float](o *op, s *segment, buf, out []T, rop ReduceOp) error {
	n, r, l := s.n, s.rank, len(buf)
	if err := s.agree(o, dtypeOf[T](), l); err != nil {
		return err
	}
	var x T
	per := s.area / n / int(unsafe.Sizeof(x)) // elements of each part per chunk
	chunks := ((l+n-1)/n + per - 1) / per
	mine := areaOf[T](s, r)
	res := areaOf[T](s, n)
	for c := range chunks {
		for j := range n {
			a, b := partChunk(j, n, l, c, per)
			copy(mine[j*per:], buf[a:b])
		}
		if err := s.barrier(o); err != nil {
			return err
		}
		a, b := partChunk(r, n, l, c, per)
		var dst []T
		if out != nil {
			lo, _ := bounds(r, n, l)
			dst = out[a-lo : b-lo]
		} else {
			dst = res[r*per : r*per+b-a]
		}
		reduceAreas(s, dst, r*per, rop)
		if err := s.barrier(o); err != nil {
			return err
		}
		if out == nil {
			for j := range n {
				a, b := partChunk(j, n, l, c, per)
				copy(buf[a:b], res[j*per:])
			}
		}
	}
	return nil
}

// reduceAreas reduces the elements at off of every member's area into
// dst, a block at a time so that dst stays in the cache while each area
// is added in.
func reduceAreas[T Float](s *segment, dst []T, off int, rop ReduceOp) {
	const block = 8 << 10
	for lo := 0; lo < len(dst); lo += block {
		hi := min(lo+block, len(dst))
		copy(dst[lo:hi], areaOf[T](s, 0)[off+lo:off+hi])
		for m := 1; m < s.n; m++ {
			reduceInto(dst[lo:hi], areaOf[T](s, m)[off+lo:off+hi], rop)
		}
	}
}

// shmAllGather copies every member's in into out (rank order) through the
// segment, an area's worth at a time.
func shmAllGather[T Float](o *op, s *segment, in, out []T) error {
	m := len(in)
	if err := s.agree(o, dtypeOf[T](), m); err != nil {
		return err
	}
	per := len(areaOf[T](s, 0))
	for lo := 0; lo < m || lo == 0; lo += per {
		hi := min(lo+per, m)
		copy(areaOf[T](s, s.rank), in[lo:hi])
		if err := s.barrier(o); err != nil {
			return err
		}
		for j := range s.n {
			copy(out[j*m+lo:j*m+hi], areaOf[T](s, j))
		}
		if err := s.barrier(o); err != nil {
			return err
		}
		if m == 0 {
			break
		}
	}
	return nil
}

// shmBroadcast copies root's buf to every member's through the results
// area, an area's worth at a time.
func shmBroadcast[T Float](o *op, s *segment, buf []T, root int) error {
	if err := s.agree(o, dtypeOf[T](), len(buf)); err != nil {
		return err
	}
	res := areaOf[T](s, s.n)
	for lo := 0; lo < len(buf); lo += len(res) {
		hi := min(lo+len(res), len(buf))
		if s.rank == root {
			copy(res, buf[lo:hi])
		}
		if err := s.barrier(o); err != nil {
			return err
		}
		if s.rank != root {
			copy(buf[lo:hi], res)
		}
		if err := s.barrier(o); err != nil {
			return err
		}
	}
	return nil
}
