// Package exehash names a program by the sha256 of its executable: an
// owner sends it with its lease requests and a node keys its executable
// cache and worker pools by it, so a worker always runs the exact program
// of the job it serves (see runtime/node's binary cache).
package exehash

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync"
	"time"
)

// A process hashes the same executable more than once: a driver when it
// registers its job, and the node in the same process (an embedded
// cluster) when it first starts a worker for it, once per lease asking at
// the same time. Hashing a test binary of 80 MB takes tens of
// milliseconds of a core, on the path of a job's first tasks. A file's
// hash is so kept while it is the file that was hashed (same inode, size
// and modification time: the test a node's binary cache makes too), and
// callers asking while it is being hashed wait for that hash.

// hashed is a file's hash, or the hash being made (done not yet closed).
type hashed struct {
	id   fileID
	done chan struct{}
	hash string
	err  error
}

// fileID tells a file from the one at the same path after a rebuild.
type fileID struct {
	info  os.FileInfo
	size  int64
	mtime time.Time
}

func idOf(fi os.FileInfo) fileID { return fileID{info: fi, size: fi.Size(), mtime: fi.ModTime()} }

func (a fileID) same(b fileID) bool {
	return os.SameFile(a.info, b.info) && a.size == b.size && a.mtime.Equal(b.mtime)
}

var memo = struct {
	sync.Mutex
	m map[string]*hashed
}{m: map[string]*hashed{}}

// File returns the sha256 hex digest of a file.
func File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	id := idOf(fi)
	memo.Lock()
	if h, ok := memo.m[path]; ok && h.id.same(id) {
		memo.Unlock()
		<-h.done
		if h.err == nil {
			return h.hash, nil
		}
		return hashOpen(f)
	}
	h := &hashed{id: id, done: make(chan struct{})}
	memo.m[path] = h
	memo.Unlock()
	h.hash, h.err = hashOpen(f)
	if h.err == nil {
		// Changed while it was read: the hash may be of neither version.
		if after, err := f.Stat(); err != nil || !idOf(after).same(id) {
			h.err = errChanged
		}
	}
	close(h.done)
	if h.err != nil {
		memo.Lock()
		if memo.m[path] == h {
			delete(memo.m, path)
		}
		memo.Unlock()
		if errors.Is(h.err, errChanged) {
			return hashOpen(f)
		}
	}
	return h.hash, h.err
}

// errChanged: the file changed while it was hashed (not kept).
var errChanged = errors.New("changed while hashed")

func hashOpen(f *os.File) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
