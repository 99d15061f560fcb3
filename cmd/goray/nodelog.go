package main

import (
	"io"
	"os"
	"path/filepath"
	"sync"
)

// nodeLogName is the node's own log in its session's logs directory, where
// the log API finds it (runtime/dashboard lists it as the node's "raylet"
// log): the node manager's lines and, on the head, the GCS's, the
// dashboard's and the job manager's.
const nodeLogName = "goray-node.log"

// nodeLogMax bounds the file: past it, the file starts over (the previous
// one is kept as goray-node.log.1, out of the listing), as Ray rotates its
// logs. The standard error keeps everything.
const nodeLogMax = 64 << 20

// nodeLogWriter is where the node's log goes: its standard error and, when
// that is not a file already (goray start --block, as in a pod, whose
// output is the container's log), a file in the session's logs directory.
// A daemonized node's standard error is its goray-start log file, which
// the log API serves itself.
func nodeLogWriter(session string) (io.Writer, func()) {
	if st, err := os.Stderr.Stat(); err == nil && st.Mode().IsRegular() {
		return os.Stderr, func() {}
	}
	dir := filepath.Join(session, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return os.Stderr, func() {}
	}
	r := &rotatingFile{path: filepath.Join(dir, nodeLogName), max: nodeLogMax}
	if err := r.open(); err != nil {
		return os.Stderr, func() {}
	}
	return io.MultiWriter(os.Stderr, r), r.close
}

// rotatingFile appends to path, starting it over past max bytes. A write
// that fails is dropped: the node's log must never stop the node.
type rotatingFile struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return err
	}
	r.f, r.size = f, st.Size()
	return nil
}

func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return len(p), nil
	}
	if r.size+int64(len(p)) > r.max && r.size > 0 {
		_ = r.f.Close()
		r.f = nil
		_ = os.Rename(r.path, r.path+".1")
		if err := r.open(); err != nil {
			return len(p), nil
		}
	}
	n, _ := r.f.Write(p)
	r.size += int64(n)
	return len(p), nil
}

func (r *rotatingFile) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f != nil {
		_ = r.f.Close()
		r.f = nil
	}
}
