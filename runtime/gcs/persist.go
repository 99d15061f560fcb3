package gcs

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/gcs/storage"
)

// persister writes the GCS's changes through to its storage, in the order
// they were made, from one goroutine: whatever is queued when it wakes is
// one batch (one bbolt transaction, one Redis MULTI/EXEC), so a burst of
// changes costs one sync. A handler changes its maps and enqueues the
// records under the GCS lock (which fixes the order), then, without the
// lock, waits until its sequence number is durable before it answers.
// Nothing reads the storage after the GCS has loaded it.
type persister struct {
	st  storage.Store
	log *log.Logger

	mu      sync.Mutex
	queue   []storage.Op
	queued  uint64 // sequence number of the last enqueued op
	durable uint64 // every op up to this one is durable
	failing error  // the last write error, until a write succeeds
	changed chan struct{}
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

// storageWait bounds how long a call waits for its write to be durable.
const storageWait = 30 * time.Second

func newPersister(st storage.Store, logger *log.Logger) *persister {
	p := &persister{st: st, log: logger, changed: make(chan struct{}), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// enqueue adds ops (kept together in one batch) and returns the sequence
// number to wait for. Called under the GCS lock. A nil persister (no
// storage) does nothing.
func (p *persister) enqueue(ops ...storage.Op) uint64 {
	if p == nil || len(ops) == 0 {
		return 0
	}
	p.mu.Lock()
	p.queue = append(p.queue, ops...)
	p.queued++
	seq := p.queued
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return seq
}

// last is the sequence number of everything enqueued so far.
func (p *persister) last() uint64 {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued
}

// wait returns once seq is durable, or an Unavailable error.
func (p *persister) wait(ctx context.Context, seq uint64) error {
	if p == nil || seq == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, storageWait)
	defer cancel()
	for {
		p.mu.Lock()
		if p.durable >= seq {
			p.mu.Unlock()
			return nil
		}
		ch, failing := p.changed, p.failing
		p.mu.Unlock()
		select {
		case <-ch:
		case <-p.done:
			return status.Error(codes.Unavailable, "GCS stopping before its storage confirmed the write")
		case <-ctx.Done():
			msg := fmt.Sprintf("GCS storage %s did not confirm the write", p.st)
			if failing != nil {
				msg += ": " + failing.Error()
			}
			return status.Error(codes.Unavailable, msg)
		}
	}
}

func (p *persister) setState(durable uint64, failing error) {
	p.mu.Lock()
	if durable > p.durable {
		p.durable = durable
	}
	p.failing = failing
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// close writes what is queued (for at most a few seconds) and stops.
func (p *persister) close() {
	if p == nil {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

func (p *persister) run() {
	defer close(p.done)
	stopping := false
	for {
		if !stopping {
			select {
			case <-p.wake:
			case <-p.stop:
				stopping = true
			}
		}
		p.mu.Lock()
		batch, upto := p.queue, p.queued
		p.queue = nil
		p.mu.Unlock()
		if len(batch) == 0 {
			if stopping {
				return
			}
			continue
		}
		if !p.write(dedupe(batch), stopping) {
			return // stopping with the storage unreachable: the rest is lost, and nobody was told it was durable
		}
		p.setState(upto, nil)
	}
}

// write applies a batch, retrying while the storage fails; false when it
// gave up because the GCS is stopping.
func (p *persister) write(batch []storage.Op, stopping bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for attempt := 0; ; attempt++ {
		err := p.apply(batch)
		if err == nil {
			if attempt > 0 {
				p.log.Printf("GCS storage %s: writing again after %d failed attempts", p.st, attempt)
			}
			return true
		}
		if attempt == 0 || attempt%20 == 0 {
			p.log.Printf("GCS storage %s: write failed (attempt %d, retrying): %v", p.st, attempt+1, err)
		}
		p.setState(0, err)
		if stopping && time.Now().After(deadline) {
			p.log.Printf("GCS storage %s: giving up on %d unwritten changes while stopping: %v", p.st, len(batch), err)
			return false
		}
		select {
		case <-time.After(min(time.Duration(attempt+1)*100*time.Millisecond, 2*time.Second)):
		case <-p.stop:
			stopping = true
		}
	}
}

// apply writes a batch in pieces of at most MaxBatchBytes; a single op
// over the storage's limits is dropped with a log line (handlers check
// sizes first, so this is a bug, and retrying it would block every write
// after it).
func (p *persister) apply(batch []storage.Op) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var piece []storage.Op
	size := 0
	flush := func() error {
		if len(piece) == 0 {
			return nil
		}
		err := p.st.Apply(ctx, piece...)
		if errors.Is(err, storage.ErrTooLarge) {
			for _, op := range piece {
				if err := p.st.Apply(ctx, op); errors.Is(err, storage.ErrTooLarge) {
					p.log.Printf("GCS storage: dropping a record of table %s: %v", op.Table, err)
				} else if err != nil {
					return err
				}
			}
			err = nil
		}
		piece, size = nil, 0
		return err
	}
	for _, op := range batch {
		n := len(op.Key) + len(op.Value)
		if size+n > storage.MaxBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		piece = append(piece, op)
		size += n
	}
	return flush()
}

// dedupe keeps the last op of each key, in the order of those last ops.
func dedupe(ops []storage.Op) []storage.Op {
	type tk struct{ table, key string }
	last := make(map[tk]int, len(ops))
	for i, op := range ops {
		last[tk{op.Table, op.Key}] = i
	}
	if len(last) == len(ops) {
		return ops
	}
	out := make([]storage.Op, 0, len(last))
	for i, op := range ops {
		if last[tk{op.Table, op.Key}] == i {
			out = append(out, op)
		}
	}
	return out
}
