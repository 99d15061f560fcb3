package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A block is one Arrow record batch. Between processes it travels as an
// Arrow IPC stream (schema message + one batch) in a []byte, which the
// SDK's codec stores as raw bytes: no second encoding, and a block read
// back from the object store decodes without copying its buffers.

// A block's bytes start with a header: a magic and the CRC-32C of the IPC
// stream after it. Arrow's IPC reader trusts the lengths in a stream (a
// corrupt one can make it allocate without bound), so only bytes this
// package wrote reach it: a block damaged in a store or on the wire, or
// bytes that are not a block, fail the check with a clear error.
var blockMagic = [4]byte{'G', 'R', 'D', 'B'}

const blockHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeBlock serializes a record batch as an IPC stream, after its header.
func encodeBlock(rec arrow.RecordBatch) ([]byte, error) { return encodeBlockInto(nil, rec) }

// encodeBlockInto is encodeBlock in buf's memory when it has the room (a
// task encodes its blocks in one buffer: a fresh one per block is a
// cleared allocation, new pages and garbage the size of the block).
func encodeBlockInto(into []byte, rec arrow.RecordBatch) ([]byte, error) {
	return encodeBatchesInto(into, []arrow.RecordBatch{rec})
}

// encodeBatchesInto is one block of several batches of one schema (a
// task's output batches gathered into a block): the IPC stream has the
// schema once and then each batch, so no batch is copied into a joined
// one. decodeBlock joins them; decodeBatches gives them as they are.
func encodeBatchesInto(into []byte, recs []arrow.RecordBatch) ([]byte, error) {
	buf := bytes.NewBuffer(into[:0])
	// The IPC stream is the buffers plus small messages: grow once, not by
	// doubling (each doubling copies the block again).
	size := blockHeader + 4096
	for _, rec := range recs {
		size += int(batchBytes(rec)) + 64*int(rec.NumCols()) + 512
	}
	buf.Grow(size)
	buf.Write(make([]byte, blockHeader))
	cw := &crcWriter{buf: buf}
	w := ipc.NewWriter(cw, ipc.WithSchema(recs[0].Schema()), ipc.WithAllocator(memory.DefaultAllocator))
	for _, rec := range recs {
		if err := w.Write(rec); err != nil {
			return nil, fmt.Errorf("encode block: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("encode block: %w", err)
	}
	b := buf.Bytes()
	copy(b, blockMagic[:])
	binary.LittleEndian.PutUint32(b[4:], cw.crc)
	return b, nil
}

// crcWriter appends to buf and sums what it appends, a piece at a time
// while the piece is still in the CPU's caches: summing the block once it
// is written read it all from memory again (for blocks of many MiB, as
// much as the encoding's own copy cost).
type crcWriter struct {
	buf *bytes.Buffer
	crc uint32
}

// crcPiece is what crcWriter copies before summing: well within a core's
// L2 cache.
const crcPiece = 64 << 10

func (c *crcWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), crcPiece)
		c.buf.Write(p[:k])
		b := c.buf.Bytes()
		c.crc = crc32.Update(c.crc, castagnoli, b[len(b)-k:])
		p = p[k:]
	}
	return n, nil
}

// maxBlockBytes bounds what decodeBlock accepts: an IPC stream claiming
// more is corrupt (blocks are written by encodeBlock, far smaller).
const maxBlockBytes = 4 << 30

// decodeBlock reads a block written by encodeBlock or encodeBatchesInto
// as one batch: the batches of a block of several are joined (a copy).
func decodeBlock(b []byte) (arrow.RecordBatch, error) {
	recs, schema, err := decodeBatches(b)
	if err != nil {
		return nil, err
	}
	switch len(recs) {
	case 0:
		return emptyBatch(schema), nil
	case 1:
		return recs[0], nil
	}
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	return concatBatches(schema, recs)
}

// decodeBatches reads a block's batches as they were written (none for a
// block of a schema without rows), and its schema, without copying their
// buffers: they point into b.
func decodeBatches(b []byte) (recs []arrow.RecordBatch, schema *arrow.Schema, err error) {
	if len(b) > maxBlockBytes {
		return nil, nil, fmt.Errorf("decode block: %d bytes is more than the %d a block may have", len(b), maxBlockBytes)
	}
	if len(b) < blockHeader || !bytes.Equal(b[:4], blockMagic[:]) {
		return nil, nil, fmt.Errorf("decode block: not a block (%d bytes without the block header)", len(b))
	}
	if sum := crc32.Checksum(b[blockHeader:], castagnoli); sum != binary.LittleEndian.Uint32(b[4:]) {
		return nil, nil, fmt.Errorf("decode block: checksum mismatch: the block is damaged")
	}
	b = b[blockHeader:]
	// The IPC reader trusts the lengths in the stream; a corrupt one can
	// make it index out of range. Bytes come from other processes.
	defer func() {
		if p := recover(); p != nil {
			recs, schema, err = nil, nil, fmt.Errorf("decode block: corrupt IPC stream: %v", p)
		}
	}()
	r, err := ipc.NewReaderFromMessageReader(&bytesMessages{b: b}, ipc.WithAllocator(memory.DefaultAllocator))
	if err != nil {
		return nil, nil, fmt.Errorf("decode block: %w", err)
	}
	defer r.Release()
	for r.Next() {
		rec := r.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
	}
	if err := r.Err(); err != nil {
		return nil, nil, fmt.Errorf("decode block: %w", err)
	}
	return recs, r.Schema(), nil
}

// bytesMessages reads the messages of an IPC stream held in memory, each
// message's body a slice of the stream: the batches decoded from it are
// views of the block's bytes. (ipc.NewReader copies each body into a fresh
// buffer: a copy of the block, in fresh memory, per decode.)
type bytesMessages struct {
	b   []byte
	msg *ipc.Message
}

func (m *bytesMessages) Retain() {}

func (m *bytesMessages) Release() {
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}

// Message returns the next message (valid until the next call), io.EOF at
// the end of the stream.
func (m *bytesMessages) Message() (*ipc.Message, error) {
	if len(m.b) < 4 {
		return nil, io.EOF
	}
	n := binary.LittleEndian.Uint32(m.b)
	m.b = m.b[4:]
	if n == 0xFFFFFFFF { // the continuation marker, then the length
		if len(m.b) < 4 {
			return nil, io.ErrUnexpectedEOF
		}
		n = binary.LittleEndian.Uint32(m.b)
		m.b = m.b[4:]
	}
	if n == 0 {
		return nil, io.EOF // the end-of-stream marker
	}
	if n < 4 || int64(n) > int64(len(m.b)) {
		return nil, fmt.Errorf("arrow/ipc: message metadata of %d bytes in %d", n, len(m.b))
	}
	meta := memory.NewBufferBytes(m.b[:n])
	m.b = m.b[n:]
	// The body's length is in the metadata.
	probe := ipc.NewMessage(meta, memory.NewBufferBytes(nil))
	bodyLen := probe.BodyLen()
	probe.Release()
	if bodyLen < 0 || bodyLen > int64(len(m.b)) {
		return nil, fmt.Errorf("arrow/ipc: message body of %d bytes in %d", bodyLen, len(m.b))
	}
	body := memory.NewBufferBytes(m.b[:bodyLen])
	m.b = m.b[bodyLen:]
	m.Release()
	m.msg = ipc.NewMessage(meta, body)
	return m.msg, nil
}

// emptyBatch is a batch of schema without rows.
func emptyBatch(schema *arrow.Schema) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	return b.NewRecordBatch()
}

// concatBatches joins batches of one schema into one.
func concatBatches(schema *arrow.Schema, recs []arrow.RecordBatch) (arrow.RecordBatch, error) {
	if len(recs) == 0 {
		return emptyBatch(schema), nil
	}
	if len(recs) == 1 {
		recs[0].Retain()
		return recs[0], nil
	}
	cols := make([]arrow.Array, schema.NumFields())
	var rows int64
	for _, r := range recs {
		if !r.Schema().Equal(schema) {
			return nil, fmt.Errorf("concatenate batches: schema %s differs from %s", r.Schema(), schema)
		}
		rows += r.NumRows()
	}
	for i := range cols {
		parts := make([]arrow.Array, len(recs))
		for j, r := range recs {
			parts[j] = r.Column(i)
		}
		c, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			return nil, fmt.Errorf("concatenate column %s: %w", schema.Field(i).Name, err)
		}
		cols[i] = c
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}

// batchBytes is the memory a batch's buffers take: the size the executor's
// budgets count.
func batchBytes(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		n += int64(arrayBytes(c.Data()))
	}
	return n
}

func arrayBytes(d arrow.ArrayData) int {
	n := 0
	for _, b := range d.Buffers() {
		if b != nil {
			n += b.Len()
		}
	}
	for _, c := range d.Children() {
		n += arrayBytes(c)
	}
	return n
}

// blockMeta describes a block without its data: the executor's budgets,
// the stats and the schema checks of reads need only this, so the driver
// never fetches a block it does not consume.
type blockMeta struct {
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	Schema string `json:"schema"`
	// Source is the file a read block came from ("" otherwise).
	Source string `json:"source,omitempty"`
	// WallNanos and CPUNanos are the time the producing task spent making
	// this block (since its previous one).
	WallNanos int64 `json:"wall_ns"`
	CPUNanos  int64 `json:"cpu_ns"`
	// Files are the files the task began reading since its previous
	// block, with their schemas, for the check that a read's files share
	// one schema.
	Files []fileSchema `json:"files,omitempty"`
}

// fileSchema is a file and the schema it was read with.
type fileSchema struct {
	Path   string `json:"path"`
	Schema string `json:"schema"`
}

// schemaString is a schema's fingerprint for comparisons between blocks:
// field names, types and nullability, without metadata (files of one
// dataset differ in metadata such as their writer's version).
func schemaString(s *arrow.Schema) string {
	var b bytes.Buffer
	for i, f := range s.Fields() {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", f.Name, f.Type)
		if !f.Nullable {
			b.WriteString(" not null")
		}
	}
	return b.String()
}
