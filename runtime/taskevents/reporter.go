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

// Report sends the buffer's events every interval until ctx ends, then once
// more (bounded by a second) so that a process that exits normally reports
// its last transitions. A batch that fails goes back into the buffer; its
// events are dropped only when newer ones fill the buffer meanwhile. poll
// (if not nil) runs before each batch is taken: an executor adds the
// RUNNING of its tasks then, so that a task that ends before the next
// report costs it nothing.
func Report(ctx context.Context, b *Buffer, interval time.Duration, send Send, poll func()) {
	if interval <= 0 {
		interval = DefaultReportInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	flush := func(ctx context.Context) {
		if poll != nil {
			poll()
		}
		if batch := b.Take(); batch != nil {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := send(sctx, batch); err != nil {
				b.Requeue(batch)
			}
			cancel()
		}
	}
	for {
		select {
		case <-t.C:
			flush(ctx)
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			flush(last)
			cancel()
			return
		}
	}
}
