package taskevents

import (
	"context"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// DefaultReportInterval is how often a process sends its events (Ray's
// task_events_report_interval_ms is 1 s).
const DefaultReportInterval = time.Second

// Send delivers one batch to the GCS.
type Send func(ctx context.Context, batch *rpcpb.TaskEventBatch) error

// Report sends the buffer's oldest records (a batch, see Buffer.Take) every
// interval until ctx ends, then what is left (bounded by a second) so that
// a process that exits normally reports its last transitions. A batch that
// fails goes back into the buffer; its events are dropped only when newer
// ones fill the buffer meanwhile. A report waits for the GCS's answer
// before the next one, as Ray's does: a slow GCS gets fewer reports, not a
// queue of them. poll (if not nil) runs before each batch is taken: an
// executor adds the RUNNING of its tasks then, so that a task that ends
// before the next report costs it nothing.
func Report(ctx context.Context, b *Buffer, interval time.Duration, send Send, poll func()) {
	if interval <= 0 {
		interval = DefaultReportInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			Rebase()
			Flush(ctx, b, send, poll, false)
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			Flush(last, b, send, poll, true)
			cancel()
			return
		}
	}
}

// Flush sends one batch, or with all every batch the buffer holds until
// one fails or ctx ends (a process on its way out). It reports whether
// every batch it took was delivered.
func Flush(ctx context.Context, b *Buffer, send Send, poll func(), all bool) bool {
	if poll != nil {
		poll()
	}
	for {
		batch := b.Take()
		if batch == nil {
			return true
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := send(sctx, batch)
		cancel()
		if err != nil {
			b.Requeue(batch)
			return false
		}
		if !all || ctx.Err() != nil {
			return ctx.Err() == nil
		}
	}
}
