package data

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
)

// Split runs the dataset and divides its rows into n materialized
// datasets of equal rows (give or take one), in order: Ray's
// split(n, equal=True), for data-parallel workers that each take a shard.
func (d *Dataset) Split(ctx context.Context, n int) ([]*Dataset, error) {
	if n <= 0 {
		return nil, fmt.Errorf("Split(%d): the number of splits must be positive", n)
	}
	m, err := d.Materialize(ctx)
	if err != nil {
		return nil, err
	}
	blocks := m.op.blocks
	var total int64
	for _, b := range blocks {
		total += b.meta.Rows
	}
	out := make([][]bundle, n)
	var pos int64 // rows before the current block
	for _, b := range blocks {
		lo, hi := pos, pos+b.meta.Rows
		pos = hi
		for j := range n {
			// Split j holds the rows [j*total/n, (j+1)*total/n).
			slo, shi := int64(j)*total/int64(n), int64(j+1)*total/int64(n)
			a, z := max(lo, slo), min(hi, shi)
			if a >= z {
				continue
			}
			if a == lo && z == hi {
				out[j] = append(out[j], b)
				continue
			}
			cut, err := sliceBlock(ctx, b, a-lo, z-lo)
			if err != nil {
				return nil, fmt.Errorf("Split: %w", err)
			}
			out[j] = append(out[j], cut)
		}
	}
	res := make([]*Dataset, n)
	for j := range res {
		res[j] = newSource(&logicalOp{name: fmt.Sprintf("Split(%d/%d)", j+1, n), blocks: out[j]})
		res[j].opts = d.opts
	}
	return res, nil
}

// StreamingSplit runs the dataset once and hands its blocks to n
// consumers as they ask for them (Ray's streaming_split(n, equal=False)):
// each iterator gets whole blocks, the next free one, so a faster consumer
// takes more. The run starts with the first iterator used and stops when
// every iterator is done with, or ctx is cancelled. Every iterator must be
// ranged over (or Close called), else the run waits for it.
func (d *Dataset) StreamingSplit(ctx context.Context, n int) []*SplitIterator {
	s := &streamingSplit{d: d, ctx: ctx, left: n}
	out := make([]*SplitIterator, n)
	for i := range out {
		out[i] = &SplitIterator{s: s}
	}
	return out
}

type streamingSplit struct {
	d    *Dataset
	ctx  context.Context
	once sync.Once
	ch   chan fetched

	mu     sync.Mutex
	left   int
	cancel context.CancelFunc
}

func (s *streamingSplit) start() {
	s.once.Do(func() {
		ctx, cancel := context.WithCancel(s.ctx)
		s.cancel = cancel
		s.ch = make(chan fetched)
		go func() {
			defer close(s.ch)
			for f := range s.d.blocks(ctx, 1) {
				select {
				case s.ch <- f:
				case <-ctx.Done():
					return
				}
				if f.err != nil {
					return
				}
			}
		}()
	})
}

// SplitIterator is one consumer's share of a StreamingSplit.
type SplitIterator struct {
	s      *streamingSplit
	closed bool
}

// IterBlocks ranges over the blocks this consumer gets; an error (the
// run's, seen by whichever consumer takes it) ends the range.
func (it *SplitIterator) IterBlocks() iter.Seq2[arrow.RecordBatch, error] {
	return func(yield func(arrow.RecordBatch, error) bool) {
		defer it.Close()
		it.s.start()
		for f := range it.s.ch {
			if f.err != nil {
				yield(nil, f.err)
				return
			}
			if !yield(f.rec, nil) {
				return
			}
		}
	}
}

// Close ends this consumer's share: once every consumer's is closed the
// run stops.
func (it *SplitIterator) Close() {
	s := it.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if it.closed {
		return
	}
	it.closed = true
	if s.left--; s.left == 0 && s.cancel != nil {
		s.cancel()
	}
}
