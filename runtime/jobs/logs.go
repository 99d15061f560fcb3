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
)

// followPoll is how often a follower looks for new output.
const followPoll = 100 * time.Millisecond

// Logs returns a job's whole log ("" before the entrypoint started).
func (m *Manager) Logs(ctx context.Context, id string) (string, error) {
	if _, err := m.Get(ctx, id); err != nil {
		return "", err
	}
	b, err := os.ReadFile(m.LogPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return string(b), err
}

// Follow sends a job's log to send as it grows, in chunks of whole lines,
// until the job has ended and everything was sent, ctx ends or send fails.
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
	var pending []byte
	buf := make([]byte, 64<<10)
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
				n, err := f.Read(buf)
				pending = append(pending, buf[:n]...)
				if err == io.EOF || n == 0 {
					break
				}
				if err != nil {
					return err
				}
			}
			if i := bytes.LastIndexByte(pending, '\n'); i >= 0 {
				if err := send(pending[:i+1]); err != nil {
					return err
				}
				pending = append([]byte(nil), pending[i+1:]...)
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
