package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// uriCache keeps the remote working_dir zips this node fetched, by URI, so
// jobs that name the same archive (every RayJob of a RayService's sample,
// every retry) download it once. Ray caches remote working_dirs per node
// by URI the same way and says so: the content at a URI is taken to be
// immutable (GitHub archives of a commit are; of a branch they are not —
// name a new URI to pick up changes). What is cached is the zip; each job
// still unpacks its own copy, which it may write to. The cache is bounded
// like Ray's (RAY_RUNTIME_ENV_WORKING_DIR_CACHE_SIZE_GB, 10 by default):
// past it, the zips used longest ago go first.
type uriCache struct {
	dir      string
	maxBytes int64

	mu sync.Mutex
	// locks serialize the users of one URI: one downloads while the others
	// wait for the cached zip, and eviction skips a zip someone holds.
	locks map[string]*uriLock
}

type uriLock struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holders and waiters
}

// defaultCacheBytes is Ray's default working_dir cache size.
const defaultCacheBytes = 10 << 30

// cacheBytesFromEnv reads RAY_RUNTIME_ENV_WORKING_DIR_CACHE_SIZE_GB (GiB, may be fractional).
func cacheBytesFromEnv() int64 {
	if v := os.Getenv("RAY_RUNTIME_ENV_WORKING_DIR_CACHE_SIZE_GB"); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 {
			return int64(f * (1 << 30))
		}
	}
	return defaultCacheBytes
}

// newURICache opens the cache in dir, dropping downloads a previous
// process left unfinished.
func newURICache(dir string, maxBytes int64) (*uriCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "*.part"))
	for _, p := range parts {
		_ = os.Remove(p)
	}
	return &uriCache{dir: dir, maxBytes: maxBytes, locks: map[string]*uriLock{}}, nil
}

func cacheKey(uri string) string {
	h := sha256.Sum256([]byte(uri))
	return hex.EncodeToString(h[:])
}

// use hands use the cached zip of uri, first filling the cache with fetch
// (given a temporary file in the cache's directory) when it lacks it. A zip
// that use fails on leaves the cache, so the next job fetches it again.
func (c *uriCache) use(ctx context.Context, uri string, fetch func(*os.File) error, use func(path string, cached bool) error) error {
	key := cacheKey(uri)
	unlock, err := c.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	path := filepath.Join(c.dir, key+".zip")
	cached := false
	if _, err := os.Stat(path); err == nil {
		cached = true
		now := time.Now()
		_ = os.Chtimes(path, now, now) // most recently used
	} else if err := c.fill(key, path, fetch); err != nil {
		return err
	}
	if err := use(path, cached); err != nil {
		_ = os.Remove(path)
		return err
	}
	c.evict(key)
	return nil
}

// fill downloads into a temporary file and renames it into place, so a
// cached zip is always whole.
func (c *uriCache) fill(key, path string, fetch func(*os.File) error) error {
	tmp, err := os.CreateTemp(c.dir, key+"-*.part")
	if err != nil {
		return err
	}
	err = fetch(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
	}
	return err
}

// evict removes the zips used longest ago until the cache fits its bound,
// never keep (just used) nor a zip another job holds.
func (c *uriCache) evict(keep string) {
	paths, _ := filepath.Glob(filepath.Join(c.dir, "*.zip"))
	type entry struct {
		key  string
		size int64
		used time.Time
	}
	var entries []entry
	var total int64
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		total += st.Size()
		entries = append(entries, entry{strings.TrimSuffix(filepath.Base(p), ".zip"), st.Size(), st.ModTime()})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].used.Before(entries[j].used) })
	for _, e := range entries {
		if total <= c.maxBytes {
			return
		}
		if e.key == keep {
			continue
		}
		unlock, ok := c.tryLock(e.key)
		if !ok {
			continue
		}
		if err := os.Remove(filepath.Join(c.dir, e.key+".zip")); err == nil || errors.Is(err, os.ErrNotExist) {
			total -= e.size
		}
		unlock()
	}
}

// lock takes key's lock, or gives up when ctx ends (the job was stopped).
func (c *uriCache) lock(ctx context.Context, key string) (func(), error) {
	c.mu.Lock()
	l := c.locks[key]
	if l == nil {
		l = &uriLock{ch: make(chan struct{}, 1)}
		c.locks[key] = l
	}
	l.refs++
	c.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; c.release(key, l) }, nil
	case <-ctx.Done():
		c.release(key, l)
		return nil, ctx.Err()
	}
}

// tryLock takes key's lock only if nobody holds or waits for it.
func (c *uriCache) tryLock(key string) (func(), bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locks[key] != nil {
		return nil, false
	}
	l := &uriLock{ch: make(chan struct{}, 1), refs: 1}
	l.ch <- struct{}{}
	c.locks[key] = l
	return func() { <-l.ch; c.release(key, l) }, true
}

func (c *uriCache) release(key string, l *uriLock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(c.locks, key)
	}
}
