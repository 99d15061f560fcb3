// Package storage is what the GCS keeps its tables in: named tables of byte
// keys and values with get, scan and atomic batches of puts and deletes.
// Three backends: Memory (in this process only; the GCS's default keeps
// no storage at all), Redis (Ray's and KubeRay's external Redis, under a
// namespace) and File (an embedded bbolt file on a volume, for KubeRay's
// embedded "rocksdb" backend). A batch returns once it is durable: bbolt
// has committed and synced the file, Redis has executed the transaction.
//
// The GCS keeps every table in memory and writes each change through to
// the store; it reads the store only when it starts.
package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
)

// The GCS's tables.
const (
	// Jobs holds drivers' job records (JobInfo) by job id.
	Jobs = "jobs"
	// KV is the internal KV: namespace + "\x00" + key. Job submissions and
	// serve state live here.
	KV = "kv"
	// Actors holds the actor directory by actor id, named and detached ones included.
	Actors = "actors"
	// PlacementGroups holds placement groups by id.
	PlacementGroups = "placement_groups"
	// Nodes holds node registrations by node id.
	Nodes = "nodes"
	// Meta holds the cluster's identity and id counters.
	Meta = "meta"
)

// Blob tables: uploaded executables and packages, in pieces, and their
// index (see gcs's blobs.go). Read on demand, never loaded at the start.
const (
	// Blobs holds the pieces: sha256 + "/" + 8-digit piece number.
	Blobs = "blobs"
	// BlobIndex holds a blob's size and piece count by sha256.
	BlobIndex = "blob_index"
)

// Tables lists every table, in the order the GCS loads them.
var Tables = []string{Meta, Nodes, Jobs, KV, Actors, PlacementGroups}

// Limits every backend enforces on writes, so that a record written to one
// can be read back from any (bbolt's key limit is 32 KiB) and so that a
// store holding foreign or corrupt data cannot make a reader allocate
// without bound.
const (
	MaxKeyBytes   = 16 << 10
	MaxValueBytes = 64 << 20
	// MaxBatchBytes bounds one atomic batch.
	MaxBatchBytes = 256 << 20
)

// ErrTooLarge is a key, value or batch over the limits.
var ErrTooLarge = errors.New("storage: record too large")

// Op is one change of a batch: a put, or a delete when Delete.
type Op struct {
	Table  string
	Key    string
	Value  []byte
	Delete bool
}

// Store is a set of tables. Safe for concurrent use.
type Store interface {
	// Apply makes every op of the batch, atomically and in order, and
	// returns once the batch is durable.
	Apply(ctx context.Context, ops ...Op) error
	// Get reads one value.
	Get(ctx context.Context, table, key string) (value []byte, found bool, err error)
	// Scan calls fn for every key of the table, in key order. A value
	// over MaxValueBytes stops the scan with an error wrapping ErrTooLarge.
	Scan(ctx context.Context, table string, fn func(key string, value []byte) error) error
	// Durable reports whether the data outlives this process.
	Durable() bool
	// String describes the store for logs, without secrets.
	String() string
	Close() error
}

// Put stores one value.
func Put(ctx context.Context, s Store, table, key string, value []byte) error {
	return s.Apply(ctx, Op{Table: table, Key: key, Value: value})
}

// Delete removes one key.
func Delete(ctx context.Context, s Store, table, key string) error {
	return s.Apply(ctx, Op{Table: table, Key: key, Delete: true})
}

func checkBatch(ops []Op) error {
	total := 0
	for _, op := range ops {
		if op.Table == "" {
			return errors.New("storage: an op without a table")
		}
		if len(op.Key) > MaxKeyBytes {
			return fmt.Errorf("%w: key of %d bytes in table %s (limit %d)", ErrTooLarge, len(op.Key), op.Table, MaxKeyBytes)
		}
		if len(op.Value) > MaxValueBytes {
			return fmt.Errorf("%w: value of %d bytes for a key in table %s (limit %d)", ErrTooLarge, len(op.Value), op.Table, MaxValueBytes)
		}
		total += len(op.Key) + len(op.Value)
	}
	if total > MaxBatchBytes {
		return fmt.Errorf("%w: batch of %d bytes (limit %d)", ErrTooLarge, total, MaxBatchBytes)
	}
	return nil
}

// maxStoredValue is the read limit (MaxValueBytes; tests lower it).
var maxStoredValue = MaxValueBytes

func checkValue(table, key string, n int) error {
	if n > maxStoredValue {
		return fmt.Errorf("%w: stored value of %d bytes for key %q in table %s (limit %d)", ErrTooLarge, n, clip(key), table, maxStoredValue)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Config selects a backend, the way Ray and KubeRay configure the GCS's
// external storage.
type Config struct {
	// RedisAddress is host:port, redis://[user[:password]@]host:port[/db]
	// or rediss:// (TLS). Set, it selects the Redis backend.
	RedisAddress string
	// RedisUsername and RedisPassword authenticate (Redis ACL user, AUTH
	// password). They win over credentials in the address.
	RedisUsername string
	RedisPassword string
	// RedisCACert is a PEM file of the CA that signed the server's
	// certificate for rediss:// (Ray's RAY_REDIS_CA_CERT); without it the
	// system's roots verify the server.
	RedisCACert string
	// Path is the embedded file store's directory (its file is Path/gcs.db).
	// Set without RedisAddress, it selects the File backend.
	Path string
	// Namespace keeps one cluster's data apart from another's in the same
	// Redis or file: Ray's external_storage_namespace.
	Namespace string
}

// Environment variables, Ray's and KubeRay's names.
const (
	EnvRedisAddress  = "RAY_REDIS_ADDRESS"
	EnvRedisPassword = "REDIS_PASSWORD"
	EnvRedisUsername = "REDIS_USERNAME"
	EnvRedisCACert   = "RAY_REDIS_CA_CERT"
	EnvNamespace     = "RAY_external_storage_namespace"
	EnvPath          = "RAY_gcs_storage_path"
)

// DefaultNamespace is used when none is given (Ray's default).
const DefaultNamespace = "default"

// ConfigFromEnv reads the backend from Ray's and KubeRay's variables.
func ConfigFromEnv() Config {
	return Config{
		RedisAddress:  strings.TrimSpace(os.Getenv(EnvRedisAddress)),
		RedisUsername: os.Getenv(EnvRedisUsername),
		RedisPassword: os.Getenv(EnvRedisPassword),
		RedisCACert:   os.Getenv(EnvRedisCACert),
		Path:          os.Getenv(EnvPath),
		Namespace:     os.Getenv(EnvNamespace),
	}
}

// Backend names the backend the config selects: "redis", "file" or "memory".
func (c Config) Backend() string {
	switch {
	case c.RedisAddress != "":
		return "redis"
	case c.Path != "":
		return "file"
	}
	return "memory"
}

// namespace is the configured namespace or the default, checked.
func (c Config) namespace() (string, error) {
	ns := c.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if len(ns) > 256 {
		return "", fmt.Errorf("storage namespace is %d bytes long; at most 256", len(ns))
	}
	for _, r := range ns {
		if r < 0x21 || r == 0x7f {
			return "", fmt.Errorf("storage namespace %q has a space or control character", ns)
		}
	}
	return ns, nil
}

// Open opens the backend the config selects. Memory is a new, empty store.
func Open(ctx context.Context, c Config) (Store, error) {
	ns, err := c.namespace()
	if err != nil {
		return nil, err
	}
	switch c.Backend() {
	case "redis":
		return OpenRedis(ctx, c)
	case "file":
		return OpenFile(c.Path, ns)
	}
	return NewMemory(), nil
}

// RedisTarget is the parsed address: what to dial, with credentials kept
// apart from what may be logged.
type RedisTarget struct {
	Addr     string
	TLS      bool
	DB       int
	Username string
	Password string
}

// String is the address for logs: never the password.
func (t RedisTarget) String() string {
	s := "redis://"
	if t.TLS {
		s = "rediss://"
	}
	if t.Username != "" {
		s += url.User(t.Username).String() + "@"
	}
	s += t.Addr
	if t.DB != 0 {
		s += fmt.Sprintf("/%d", t.DB)
	}
	return s
}

// ParseRedisAddress reads host:port, redis://… or rediss://…; username and
// password (when not empty) override the address's. Errors never quote the
// password.
func ParseRedisAddress(addr, username, password string) (RedisTarget, error) {
	addr = strings.TrimSpace(addr)
	var t RedisTarget
	if addr == "" {
		return t, errors.New("no Redis address: set RAY_REDIS_ADDRESS (host:port, redis:// or rediss://)")
	}
	if strings.Contains(addr, ",") {
		return t, errors.New("RAY_REDIS_ADDRESS names several Redis servers; goray uses one (a primary, or a proxy in front of a cluster)")
	}
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		switch scheme {
		case "redis":
		case "rediss":
			t.TLS = true
		default:
			return t, fmt.Errorf("redis address scheme %q: want redis:// or rediss://", scheme)
		}
		u, err := url.Parse("redis://" + rest)
		if err != nil {
			return t, errors.New("the Redis address is not a valid URL (redis://[user[:password]@]host:port[/db])")
		}
		if u.User != nil {
			t.Username = u.User.Username()
			t.Password, _ = u.User.Password()
		}
		t.Addr = u.Host
		if p := strings.Trim(u.Path, "/"); p != "" {
			if _, err := fmt.Sscanf(p, "%d", &t.DB); err != nil || t.DB < 0 || fmt.Sprint(t.DB) != p {
				return t, fmt.Errorf("redis address database %q is not a number", p)
			}
		}
	} else {
		t.Addr = addr
	}
	host, port, err := net.SplitHostPort(t.Addr)
	if err != nil {
		// A bare host: Redis's port.
		host, port = t.Addr, "6379"
		if strings.Count(host, ":") > 1 && !strings.HasPrefix(host, "[") { // a bare IPv6 address
			host = strings.Trim(host, "[]")
		}
	}
	if host == "" {
		return t, errors.New("the Redis address has no host")
	}
	t.Addr = net.JoinHostPort(host, port)
	if username != "" {
		t.Username = username
	}
	if password != "" {
		t.Password = password
	}
	return t, nil
}
