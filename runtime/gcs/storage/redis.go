package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Redis keeps each table in one Redis hash, key "RAY<namespace>@goray_<table>",
// field = key. Every key of a cluster starts with "RAY<namespace>@", the
// prefix Ray's own Redis cleanup deletes, so KubeRay's cleanup Job and
// `goray gcs-cleanup` remove the same keys. A batch is one MULTI/EXEC
// transaction; Apply returns once Redis has executed it (durability on
// disk is the server's appendfsync policy, as for Ray).
type Redis struct {
	c      *redis.Client
	target RedisTarget
	ns     string
}

// Options are the client options for a target: timeouts, TLS, no
// client-side identity or maintenance commands (older servers refuse them).
func redisOptions(t RedisTarget, caFile string) (*redis.Options, error) {
	o := &redis.Options{
		Addr: t.Addr, Username: t.Username, Password: t.Password, DB: t.DB,
		DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		ContextTimeoutEnabled: true, PoolSize: 8, MaxRetries: 2, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if t.TLS {
		host, _, _ := net.SplitHostPort(t.Addr)
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("read the Redis CA certificate: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
			}
			cfg.RootCAs = pool
		}
		o.TLSConfig = cfg
	}
	return o, nil
}

// redisError drops anything of the password from a client error.
func redisError(t RedisTarget, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if t.Password != "" {
		msg = strings.ReplaceAll(msg, t.Password, "<redacted>")
	}
	if strings.Contains(msg, "WRONGPASS") || strings.Contains(msg, "NOAUTH") || strings.Contains(msg, "invalid password") {
		msg += " (check REDIS_PASSWORD and REDIS_USERNAME)"
	}
	return fmt.Errorf("redis %s: %s", t, msg)
}

func connectRedis(ctx context.Context, c Config) (*redis.Client, RedisTarget, error) {
	t, err := ParseRedisAddress(c.RedisAddress, c.RedisUsername, c.RedisPassword)
	if err != nil {
		return nil, t, err
	}
	o, err := redisOptions(t, c.RedisCACert)
	if err != nil {
		return nil, t, err
	}
	cl := redis.NewClient(o)
	// Redis may come up after the head (a pod restarting beside it): ping
	// until ctx ends.
	var last error
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 2*time.Second) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = cl.Ping(pctx).Err()
		cancel()
		if last == nil {
			return cl, t, nil
		}
		if isAuthError(last) {
			break // wrong credentials stay wrong
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
			continue
		}
		break
	}
	_ = cl.Close()
	return nil, t, redisError(t, last)
}

func isAuthError(err error) bool {
	s := err.Error()
	return strings.Contains(s, "WRONGPASS") || strings.Contains(s, "NOAUTH") || strings.Contains(s, "NOPERM")
}

// OpenRedis connects to the configured Redis, retrying until ctx ends.
func OpenRedis(ctx context.Context, c Config) (*Redis, error) {
	ns, err := c.namespace()
	if err != nil {
		return nil, err
	}
	cl, t, err := connectRedis(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Redis{c: cl, target: t, ns: ns}, nil
}

// RedisKeyPrefix is the prefix of every Redis key of a namespace.
func RedisKeyPrefix(ns string) string { return "RAY" + ns + "@" }

func (r *Redis) key(table string) string { return RedisKeyPrefix(r.ns) + "goray_" + table }

// Apply implements Store: one MULTI/EXEC.
func (r *Redis) Apply(ctx context.Context, ops ...Op) error {
	if err := checkBatch(ops); err != nil {
		return err
	}
	if len(ops) == 0 {
		return nil
	}
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, op := range ops {
			if op.Delete {
				p.HDel(ctx, r.key(op.Table), op.Key)
			} else {
				p.HSet(ctx, r.key(op.Table), op.Key, op.Value)
			}
		}
		return nil
	})
	return redisError(r.target, err)
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, table, key string) ([]byte, bool, error) {
	v, err := r.c.HGet(ctx, r.key(table), key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, redisError(r.target, err)
	}
	if err := checkValue(table, key, len(v)); err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// Scan implements Store (HSCAN, sorted here).
func (r *Redis) Scan(ctx context.Context, table string, fn func(key string, value []byte) error) error {
	vals := map[string]string{}
	var cursor uint64
	for {
		kv, next, err := r.c.HScan(ctx, r.key(table), cursor, "", 256).Result()
		if err != nil {
			return redisError(r.target, err)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if err := checkValue(table, kv[i], len(kv[i+1])); err != nil {
				return err
			}
			vals[kv[i]] = kv[i+1] // HSCAN may repeat a field: the map keeps one
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := fn(k, []byte(vals[k])); err != nil {
			return err
		}
	}
	return nil
}

// Durable is true.
func (r *Redis) Durable() bool { return true }

// String names the server (without the password) and namespace.
func (r *Redis) String() string {
	return fmt.Sprintf("redis %s (namespace %q)", r.target, r.ns)
}

// Close closes the client.
func (r *Redis) Close() error { return r.c.Close() }

// globEscape quotes SCAN MATCH's special characters.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DeleteRedisNamespace removes every key of the configured namespace (all
// keys starting "RAY<namespace>@": goray's tables and anything Ray stored
// there) and returns how many it deleted. It connects once, retrying
// until ctx ends.
func DeleteRedisNamespace(ctx context.Context, c Config) (int, error) {
	ns, err := c.namespace()
	if err != nil {
		return 0, err
	}
	cl, t, err := connectRedis(ctx, c)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	pattern := globEscape(RedisKeyPrefix(ns)) + "*"
	deleted := 0
	var cursor uint64
	for {
		keys, next, err := cl.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return deleted, redisError(t, err)
		}
		if len(keys) > 0 {
			n, err := cl.Del(ctx, keys...).Result()
			if err != nil {
				return deleted, redisError(t, err)
			}
			deleted += int(n)
		}
		if cursor = next; cursor == 0 {
			return deleted, nil
		}
	}
}
