package jobs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// followPoll is how often a follower looks for new output.
const followPoll = 100 * time.Millisecond

// openLog opens a job's log for reading and returns its size now (nil, 0
// before the entrypoint started).
func (m *Manager) openLog(ctx context.Context, id string) (*os.File, int64, error) {
	if _, err := m.Get(ctx, id); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(m.LogPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// followChunk is how much a follower reads at a time, and the most it
// holds back waiting for the end of a line.
const followChunk = 64 << 10

// Follow sends a job's log to send as it grows, in chunks of whole lines
// (a line longer than followChunk goes in pieces), until the job has ended
// and everything was sent, ctx ends or send fails. It holds at most two
// chunks in memory whatever the log's size; send must not keep the slice.
func (m *Manager) Follow(ctx context.Context, id string, send func([]byte) error) error {
	if _, err := m.Get(ctx, id); err != nil {
		return err
	}
	var f *os.File
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	pending := make([]byte, 0, 2*followChunk)
	for {
		// Check before reading so that output written before the job ended is never missed.
		final := !m.active(id)
		if f == nil {
			var err error
			f, err = os.Open(m.LogPath(id))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		if f != nil {
			for {
				n, err := f.Read(pending[len(pending):cap(pending)][:followChunk])
				pending = pending[:len(pending)+n]
				if i := bytes.LastIndexByte(pending, '\n'); i >= 0 {
					if err := send(pending[:i+1]); err != nil {
						return err
					}
					pending = pending[:copy(pending, pending[i+1:])]
				}
				if len(pending) >= followChunk {
					// A line this long goes in pieces, cut between characters
					// (a WebSocket text frame must be UTF-8).
					cut := utf8Cut(pending)
					if err := send(pending[:cut]); err != nil {
						return err
					}
					pending = pending[:copy(pending, pending[cut:])]
				}
				if err == io.EOF || n == 0 {
					break
				}
				if err != nil {
					return err
				}
			}
		}
		if final {
			if len(pending) > 0 {
				return send(pending)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(followPoll):
		}
	}
}

// utf8Cut is where to cut b so as not to split its last character: before
// an incomplete one at the end, else at the end.
func utf8Cut(b []byte) int {
	for k := 1; k < utf8.UTFMax && k <= len(b); k++ {
		if utf8.RuneStart(b[len(b)-k]) {
			if !utf8.FullRune(b[len(b)-k:]) {
				return len(b) - k
			}
			break
		}
	}
	return len(b)
}

// lastLines is the last n lines of a file, at most maxChars long.
func lastLines(path string, n, maxChars int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-int64(maxChars), 0)
	b := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil && err != io.EOF {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // the first one is cut
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
