package hop

import (
	"context"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// frameWriter is a connection's write side, shared by the goroutines of its
// streams. A goroutine that queues frames while another one's write is in
// progress leaves them to that goroutine, which writes everything queued in
// its next system call: under load many frames share one write (and one
// wake-up of the reader on the other side); alone, a frame is written at once.
type frameWriter struct {
	c net.Conn
	// streams is how many streams the connection has open. With others
	// open, a goroutine about to write yields first so that their frames
	// can join the write; alone it writes at once (a yield would also wake
	// an idle thread for nothing).
	streams atomic.Int32

	mu       sync.Mutex
	buf      []byte // queued frames
	spare    []byte // the last written buffer, reused
	flushing bool   // a goroutine is writing; it takes what is queued
	err      error  // the first write error: the connection is unusable
}

// maxSpare bounds the buffer kept for reuse (a large body's is dropped).
const maxSpare = 256 << 10

// send queues the frames add appends and sees that they are written, by this
// goroutine or by the one already writing. An error means the connection
// broke (now or earlier), or add failed and queued nothing.
func (w *frameWriter) send(add func(b []byte) ([]byte, error)) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	b, err := add(w.buf)
	if err != nil {
		w.mu.Unlock()
		return err
	}
	w.buf = b
	if w.flushing {
		w.mu.Unlock()
		return nil
	}
	w.flushing = true
	if w.streams.Load() > 1 {
		w.mu.Unlock()
		runtime.Gosched()
		w.mu.Lock()
	}
	for len(w.buf) > 0 && w.err == nil {
		out := w.buf
		w.buf = w.spare[:0]
		w.mu.Unlock()
		_, err := w.c.Write(out)
		w.mu.Lock()
		if cap(out) <= maxSpare {
			w.spare = out[:0]
		} else {
			w.spare = nil
		}
		if err != nil {
			w.err = err
		}
	}
	w.flushing = false
	err = w.err
	if err != nil {
		w.buf = nil
	}
	w.mu.Unlock()
	if err != nil {
		_ = w.c.Close()
	}
	return err
}

// sendFrame queues one frame.
func (w *frameWriter) sendFrame(t frameType, stream uint32, parts ...[]byte) error {
	return w.send(func(b []byte) ([]byte, error) { return appendFrame(b, t, stream, parts...) })
}

// waitWritten waits until nothing is queued or being written (or for ctx).
func (w *frameWriter) waitWritten(ctx context.Context) {
	for {
		w.mu.Lock()
		busy := w.err == nil && (w.flushing || len(w.buf) > 0)
		w.mu.Unlock()
		if !busy || ctx.Err() != nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
