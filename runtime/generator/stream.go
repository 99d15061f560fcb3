// Package generator is an owner's bookkeeping for one streaming generator
// task (Ray's ObjectRefStream): which items its executor reported, which the
// consumer took, where the stream ends, and when the executor must pause
// (backpressure). It is a deterministic state machine: methods take what
// happened (a report, the consumer's next, the task's end, a retry, the
// consumer dropping the stream) and return what the caller must do (record
// or free items, answer held reports); it does no I/O and takes no locks.
//
// Items are numbered from 0 in the order the generator yields them, in every
// attempt of the task: a retry runs the generator from its start and
// reports (from the index the owner asks it to skip to) items with the same
// numbers, which refill what the stream had rather than add to it.
package generator

import (
	"fmt"
	"strings"
)

// Disposition says what to do with one reported item.
type Disposition int

const (
	// New is the next item of the stream: record it as a new object, held
	// for the consumer.
	New Disposition = iota
	// Refill is an item the stream already had, made again by a retry or a
	// reconstruction: it fills the object if that is still wanted and not
	// ready, else its copy is freed.
	Refill
	// Discard is an item nobody will take (the consumer dropped the stream,
	// or a re-run yielded more than the stream ended with): free its copy.
	Discard
)

func (d Disposition) String() string {
	switch d {
	case New:
		return "new"
	case Refill:
		return "refill"
	}
	return "discard"
}

// Ack answers a report whose reply was held for backpressure.
type Ack struct {
	Waiter   any
	Consumed int64
	// Stop: the report came from an attempt that is no longer the task's.
	Stop bool
}

// Report is what to do with one report of items.
type Report struct {
	// Stale: the report is from an attempt other than the current one; it
	// is ignored (Items is empty) and its executor is told to stop.
	Stale bool
	Items []Disposition
	// Hold: answer only when an Ack for the waiter comes back (the consumer
	// is Threshold items behind); else answer now with Consumed.
	Hold     bool
	Consumed int64
}

type held struct {
	waiter any
	upto   int64 // items produced when it reported (its last index + 1)
}

// Stream is one generator task's stream of items.
type Stream struct {
	attempt   int32
	threshold int64
	received  int64 // items [0, received) were reported
	consumed  int64 // items [0, consumed) were taken by the consumer
	ended     bool
	dropped   bool
	// unthrottled: the current attempt runs without backpressure (an item
	// it skipped was lost: its rebuild waits for the attempt to end, and a
	// consumer waiting on that item would never consume more).
	unthrottled bool
	// yielding: no attempt pauses while the owner rebuilds lost objects
	// (see Yield).
	yielding bool
	held     []held
}

// NewStream returns an empty stream. threshold > 0 pauses the executor while that
// many items are not consumed (Ray's _generator_backpressure_num_objects).
func NewStream(threshold int64) *Stream {
	return &Stream{threshold: threshold}
}

// Received is how many items were reported (the next new item's index).
func (s *Stream) Received() int64 { return s.received }

// Consumed is how many items the consumer took.
func (s *Stream) Consumed() int64 { return s.consumed }

// Ended says whether the stream has its end (the task finished or failed).
func (s *Stream) Ended() bool { return s.ended }

// Dropped says whether the consumer dropped the stream.
func (s *Stream) Dropped() bool { return s.dropped }

// Threshold is the backpressure threshold the stream was made with.
func (s *Stream) Threshold() int64 { return s.threshold }

// Attempt is the task's current attempt.
func (s *Stream) Attempt() int32 { return s.attempt }

// Report takes n items an executor reported, the first with index first,
// from attempt. A report that would leave a gap (its first index beyond
// the items received) is an error: executors report in order.
func (s *Stream) Report(attempt int32, first int64, n int, waiter any) (Report, error) {
	if attempt != s.attempt {
		return Report{Stale: true, Consumed: s.consumed}, nil
	}
	if first < 0 || n < 0 {
		return Report{}, fmt.Errorf("report of items [%d, %d+%d)", first, first, n)
	}
	if first > s.received {
		return Report{}, fmt.Errorf("report starts at item %d, but only %d were received", first, s.received)
	}
	r := Report{Items: make([]Disposition, n)}
	for i := range n {
		idx := first + int64(i)
		switch {
		case idx < s.received:
			r.Items[i] = Refill
		case s.dropped || s.ended:
			r.Items[i] = Discard
		default:
			r.Items[i] = New
			s.received++
		}
	}
	upto := first + int64(n)
	r.Consumed = s.replyConsumed(upto)
	if s.threshold > 0 && !s.dropped && !s.ended && !s.unthrottled && !s.yielding && upto-s.consumed >= s.threshold {
		r.Hold = true
		s.held = append(s.held, held{waiter: waiter, upto: upto})
	}
	return r, nil
}

// replyConsumed is the consumption an executor is told: everything it
// made once nobody consumes (the stream dropped or ended), so it never
// pauses for a consumer that is gone.
func (s *Stream) replyConsumed(upto int64) int64 {
	if s.dropped || s.ended || s.unthrottled || s.yielding {
		return max(upto, s.consumed)
	}
	return s.consumed
}

// Next hands the consumer the next item: its index (ok), or end when the
// stream ended and every item was taken; neither means wait for a report.
// Acks answer the reports that may now go on.
func (s *Stream) Next() (index int64, ok, end bool, acks []Ack) {
	if s.consumed < s.received {
		index = s.consumed
		s.consumed++
		return index, true, false, s.release(false)
	}
	return 0, false, s.ended || s.dropped, nil
}

// release acks the held reports the consumer is no longer threshold items
// behind (all of them with all).
func (s *Stream) release(all bool) []Ack {
	var acks []Ack
	kept := s.held[:0]
	for _, h := range s.held {
		if all || h.upto-s.consumed < s.threshold {
			acks = append(acks, Ack{Waiter: h.waiter, Consumed: s.replyConsumed(h.upto)})
			continue
		}
		kept = append(kept, h)
	}
	clear(s.held[len(kept):])
	s.held = kept
	return acks
}

// Finish ends the stream after the items received: the task returned.
func (s *Stream) Finish() []Ack {
	s.ended = true
	return s.release(true)
}

// Fail ends the stream with the task's error as one more item, at the
// position it happened: its index, unless the consumer dropped the stream
// (ok false: nobody will read it).
func (s *Stream) Fail() (index int64, ok bool, acks []Ack) {
	if s.ended {
		return 0, false, nil
	}
	s.ended = true
	acks = s.release(true)
	if s.dropped {
		return 0, false, acks
	}
	index = s.received
	s.received++
	return index, true, acks
}

// Unthrottle lets the current attempt run to its end without pausing: an
// item the consumer took was lost, and it can be rebuilt only by a run
// after this one. The next attempt has backpressure again.
func (s *Stream) Unthrottle() []Ack {
	s.unthrottled = true
	return s.release(true)
}

// Yield turns backpressure off (on) or back on (!on), for every attempt:
// while its owner rebuilds lost objects from lineage, an executor paused
// for a slow consumer would hold the worker and resources that a
// reconstruction may be waiting for, and the consumer may be waiting for
// the reconstruction. Turned back on, reports hold again as the consumer
// falls behind.
func (s *Stream) Yield(on bool) []Ack {
	s.yielding = on
	if !on {
		return nil
	}
	return s.release(true)
}

// Retry makes attempt the current one: reports of earlier attempts are
// stale from now on, and those held are told to stop.
func (s *Stream) Retry(attempt int32) []Ack {
	s.attempt = attempt
	s.unthrottled = false
	acks := s.release(true)
	for i := range acks {
		acks[i].Stop = true
	}
	return acks
}

// Drop is the consumer letting go of the stream: the items it did not take,
// [from, to), are released, and the executor no longer pauses.
func (s *Stream) Drop() (from, to int64, acks []Ack) {
	if s.dropped {
		return 0, 0, nil
	}
	s.dropped = true
	from, to = s.consumed, s.received
	s.consumed = s.received
	return from, to, s.release(true)
}

// String prints the stream's state (scenario tests).
func (s *Stream) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "attempt=%d received=%d consumed=%d", s.attempt, s.received, s.consumed)
	if s.ended {
		b.WriteString(" ended")
	}
	if s.dropped {
		b.WriteString(" dropped")
	}
	if s.unthrottled {
		b.WriteString(" unthrottled")
	}
	if s.yielding {
		b.WriteString(" yielding")
	}
	for _, h := range s.held {
		fmt.Fprintf(&b, " held(%v@%d)", h.waiter, h.upto)
	}
	return b.String()
}
