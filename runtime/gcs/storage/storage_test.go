package storage

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/goray-dev/goray/runtime/gcs/storage/storagetest"
)

// backend opens stores of one kind; reopen gives a store on the same data
// (nil for memory, whose data is the store itself).
type backend struct {
	name    string
	durable bool
	// open opens the namespace's store; calling it again after Close
	// reopens the same data.
	open func(t *testing.T, ns string) Store
}

func backends(t *testing.T) []backend {
	dir := t.TempDir()
	mems := map[string]*Memory{}
	var memMu sync.Mutex
	out := []backend{
		{name: "memory", open: func(t *testing.T, ns string) Store {
			memMu.Lock()
			defer memMu.Unlock()
			if mems[ns] == nil {
				mems[ns] = NewMemory()
			}
			return mems[ns]
		}},
		{name: "file", durable: true, open: func(t *testing.T, ns string) Store {
			s, err := OpenFile(filepath.Join(dir, ns), ns)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	plain := storagetest.StartRedis(t, storagetest.Options{})
	secret := storagetest.StartRedis(t, storagetest.Options{Password: "s3cret pass", Users: map[string]string{"gcs": "user-pass"}})
	tlsSrv := storagetest.StartRedis(t, storagetest.Options{Password: "tls-pass", TLS: true})
	redisBackend := func(name string, c Config) backend {
		return backend{name: name, durable: true, open: func(t *testing.T, ns string) Store {
			c := c
			c.Namespace = name + "/" + ns // two backends share a server
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := OpenRedis(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}}
	}
	return append(out,
		redisBackend("redis", Config{RedisAddress: plain.Addr}),
		redisBackend("redis-password", Config{RedisAddress: "redis://" + secret.Addr, RedisPassword: "s3cret pass"}),
		redisBackend("redis-acl-user", Config{RedisAddress: secret.Addr, RedisUsername: "gcs", RedisPassword: "user-pass"}),
		redisBackend("rediss", Config{RedisAddress: "rediss://" + tlsSrv.Addr, RedisPassword: "tls-pass", RedisCACert: tlsSrv.CACert}),
	)
}

func scanAll(t *testing.T, s Store, table string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var prev string
	first := true
	err := s.Scan(context.Background(), table, func(k string, v []byte) error {
		if !first && k <= prev {
			t.Errorf("scan of %s out of order: %q after %q", table, k, prev)
		}
		prev, first = k, false
		out[k] = string(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustApply(t *testing.T, s Store, ops ...Op) {
	t.Helper()
	if err := s.Apply(context.Background(), ops...); err != nil {
		t.Fatal(err)
	}
}

// TestConformance runs one suite against every backend.
func TestConformance(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Run("put-get-delete", func(t *testing.T) {
				s := b.open(t, "crud")
				defer s.Close()
				if _, ok, err := s.Get(ctx, Jobs, "missing"); ok || err != nil {
					t.Fatalf("missing key: found=%v err=%v", ok, err)
				}
				mustApply(t, s, Op{Table: Jobs, Key: "a", Value: []byte("1")})
				if v, ok, err := s.Get(ctx, Jobs, "a"); !ok || err != nil || string(v) != "1" {
					t.Fatalf("get a = %q %v %v", v, ok, err)
				}
				if err := Put(ctx, s, Jobs, "a", []byte("2")); err != nil {
					t.Fatal(err)
				}
				if v, _, _ := s.Get(ctx, Jobs, "a"); string(v) != "2" {
					t.Fatalf("overwrite: got %q", v)
				}
				if err := Delete(ctx, s, Jobs, "a"); err != nil {
					t.Fatal(err)
				}
				if _, ok, _ := s.Get(ctx, Jobs, "a"); ok {
					t.Fatal("deleted key still found")
				}
				if err := Delete(ctx, s, Jobs, "never-there"); err != nil {
					t.Fatalf("deleting a missing key: %v", err)
				}
			})
			t.Run("binary-keys-empty-values-tables", func(t *testing.T) {
				s := b.open(t, "binary")
				defer s.Close()
				keys := []string{"ns\x00key", "\xff\xfe", "a b/c", "é", "z"}
				for i, k := range keys {
					mustApply(t, s, Op{Table: KV, Key: k, Value: []byte{byte(i), 0, 0xff}})
				}
				mustApply(t, s, Op{Table: KV, Key: "empty", Value: nil}, Op{Table: Actors, Key: "ns\x00key", Value: []byte("other table")})
				got := scanAll(t, s, KV)
				if len(got) != len(keys)+1 {
					t.Fatalf("scan: %d keys, want %d: %q", len(got), len(keys)+1, got)
				}
				for i, k := range keys {
					if got[k] != string([]byte{byte(i), 0, 0xff}) {
						t.Errorf("key %q = %q", k, got[k])
					}
				}
				if v, ok, err := s.Get(ctx, KV, "empty"); !ok || err != nil || len(v) != 0 {
					t.Errorf("empty value: %q found=%v err=%v", v, ok, err)
				}
				if a := scanAll(t, s, Actors); len(a) != 1 || a["ns\x00key"] != "other table" {
					t.Errorf("tables mixed: %q", a)
				}
				if e := scanAll(t, s, PlacementGroups); len(e) != 0 {
					t.Errorf("an untouched table has %q", e)
				}
			})
			t.Run("batch-in-order-and-atomic", func(t *testing.T) {
				s := b.open(t, "batch")
				defer s.Close()
				mustApply(t, s,
					Op{Table: Meta, Key: "x", Value: []byte("1")}, Op{Table: Meta, Key: "x", Delete: true},
					Op{Table: Meta, Key: "y", Delete: true}, Op{Table: Meta, Key: "y", Value: []byte("2")},
					Op{Table: Jobs, Key: "j", Value: []byte("job")})
				if got := scanAll(t, s, Meta); len(got) != 1 || got["y"] != "2" {
					t.Fatalf("ops not applied in order: %d keys, y=%q", len(got), got["y"])
				}
				// One op over the limits: nothing of the batch is applied.
				err := s.Apply(ctx, Op{Table: Meta, Key: "z", Value: []byte("3")}, Op{Table: Meta, Key: strings.Repeat("k", MaxKeyBytes+1), Value: []byte("x")})
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("oversized key: %v", err)
				}
				err = s.Apply(ctx, Op{Table: Meta, Key: "z", Value: []byte("3")}, Op{Table: Meta, Key: "big", Value: make([]byte, MaxValueBytes+1)})
				if !errors.Is(err, ErrTooLarge) {
					t.Fatalf("oversized value: %v", err)
				}
				if _, ok, _ := s.Get(ctx, Meta, "z"); ok {
					t.Fatal("a refused batch was partly applied")
				}
				// The largest key is accepted by every backend.
				mustApply(t, s, Op{Table: Meta, Key: strings.Repeat("k", MaxKeyBytes), Value: []byte("ok")})
			})
			t.Run("concurrent", func(t *testing.T) {
				s := b.open(t, "concurrent")
				defer s.Close()
				var wg sync.WaitGroup
				for g := 0; g < 8; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 25; i++ {
							k := fmt.Sprintf("%d-%02d", g, i)
							if err := s.Apply(ctx, Op{Table: Nodes, Key: k, Value: []byte(k)}, Op{Table: Meta, Key: "last-" + k[:1], Value: []byte(k)}); err != nil {
								t.Error(err)
							}
						}
					}()
				}
				wg.Wait()
				if n := len(scanAll(t, s, Nodes)); n != 200 {
					t.Fatalf("%d keys after concurrent puts, want 200", n)
				}
			})
			t.Run("namespaces", func(t *testing.T) {
				a := b.open(t, "ns-a")
				mustApply(t, a, Op{Table: KV, Key: "k", Value: []byte("a")})
				_ = a.Close()
				c := b.open(t, "ns-b")
				defer c.Close()
				if got := scanAll(t, c, KV); len(got) != 0 {
					t.Fatalf("namespace ns-b sees %q", got)
				}
			})
			if !b.durable {
				return
			}
			t.Run("reopen", func(t *testing.T) {
				s := b.open(t, "reopen")
				mustApply(t, s, Op{Table: Jobs, Key: "00000001", Value: []byte("one")}, Op{Table: Meta, Key: "job_seq", Value: []byte("1")})
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				s = b.open(t, "reopen")
				defer s.Close()
				if got := scanAll(t, s, Jobs); got["00000001"] != "one" {
					t.Fatalf("after reopen: %q", got)
				}
				if !s.Durable() {
					t.Fatal("a durable backend says it is not")
				}
			})
		})
	}
}

func TestFileIsLockedAndLimitsReads(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenFile(dir, "x")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	if _, err := OpenFile(dir, "x"); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open of a locked file: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("the lock wait is unbounded")
	}
	mustApply(t, s, Op{Table: KV, Key: "big", Value: make([]byte, 1000)})
	defer func(v int) { maxStoredValue = v }(maxStoredValue)
	maxStoredValue = 999
	if _, _, err := s.Get(context.Background(), KV, "big"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("get over the read limit: %v", err)
	}
	if err := s.Scan(context.Background(), KV, func(string, []byte) error { return nil }); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("scan over the read limit: %v", err)
	}
}

func TestRedisLimitsReadsAndHidesPassword(t *testing.T) {
	srv := storagetest.StartRedis(t, storagetest.Options{Password: "hunter2-secret"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := OpenRedis(ctx, Config{RedisAddress: "redis://:wrong-secret@" + srv.Addr})
	if err == nil || strings.Contains(err.Error(), "wrong-secret") || !strings.Contains(err.Error(), "REDIS_PASSWORD") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := OpenRedis(ctx, Config{RedisAddress: srv.Addr}); err == nil || !strings.Contains(err.Error(), "REDIS_PASSWORD") {
		t.Fatalf("no password: %v", err)
	}
	s, err := OpenRedis(ctx, Config{RedisAddress: srv.Addr, RedisPassword: "hunter2-secret", Namespace: "lim"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if strings.Contains(s.String(), "hunter2") {
		t.Fatalf("String() shows the password: %s", s)
	}
	mustApply(t, s, Op{Table: KV, Key: "big", Value: make([]byte, 1000)})
	defer func(v int) { maxStoredValue = v }(maxStoredValue)
	maxStoredValue = 999
	if _, _, err := s.Get(ctx, KV, "big"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("get over the read limit: %v", err)
	}
	if err := s.Scan(ctx, KV, func(string, []byte) error { return nil }); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("scan over the read limit: %v", err)
	}
}

// TestRedisTLSVerifiesTheServer: rediss:// checks the server's certificate
// (against RAY_REDIS_CA_CERT or the system roots), and plain redis:// does
// not reach a TLS-only server.
func TestRedisTLSVerifiesTheServer(t *testing.T) {
	srv := storagetest.StartRedis(t, storagetest.Options{TLS: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := OpenRedis(ctx, Config{RedisAddress: "rediss://" + srv.Addr}); err == nil {
		t.Fatal("a server certificate from an unknown CA was accepted")
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if _, err := OpenRedis(ctx2, Config{RedisAddress: srv.Addr}); err == nil {
		t.Fatal("plain TCP reached a TLS-only server")
	}
	if _, err := OpenRedis(context.Background(), Config{RedisAddress: "rediss://" + srv.Addr, RedisCACert: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}

func TestOpenRedisWaitsForTheServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := OpenRedis(ctx, Config{RedisAddress: "127.0.0.1:1"})
	if err == nil || time.Since(start) < 500*time.Millisecond {
		t.Fatalf("no server: err=%v after %s (should retry until the deadline)", err, time.Since(start))
	}
}

func TestDeleteRedisNamespace(t *testing.T) {
	srv := storagetest.StartRedis(t, storagetest.Options{Password: "pw"})
	ctx := context.Background()
	cfg := Config{RedisAddress: srv.Addr, RedisPassword: "pw"}
	open := func(ns string) Store {
		c := cfg
		c.Namespace = ns
		s, err := OpenRedis(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// A namespace with glob characters must not match others.
	for _, ns := range []string{"clu*", "cluster-1", "clu[s]ter"} {
		s := open(ns)
		for _, tb := range Tables {
			mustApply(t, s, Op{Table: tb, Key: "k", Value: []byte(ns)})
		}
		_ = s.Close()
	}
	raw := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "pw", DisableIdentity: true})
	defer raw.Close()
	// Ray's own keys of the namespace go too; other keys stay.
	raw.Set(ctx, "RAYclu*@RayKV", "ray", 0)
	raw.Set(ctx, "unrelated", "x", 0)
	c := cfg
	c.Namespace = "clu*"
	n, err := DeleteRedisNamespace(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(Tables)+1 {
		t.Fatalf("deleted %d keys, want %d", n, len(Tables)+1)
	}
	keys, _ := raw.Keys(ctx, "*").Result()
	if len(keys) != 2*len(Tables)+1 {
		t.Fatalf("left %d keys, want %d: %q", len(keys), 2*len(Tables)+1, keys)
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "RAYclu*@") {
			t.Fatalf("key %q of the deleted namespace is left", k)
		}
	}
	if n, err := DeleteRedisNamespace(ctx, c); err != nil || n != 0 {
		t.Fatalf("second cleanup: %d, %v", n, err)
	}
}

func TestParseRedisAddress(t *testing.T) {
	for _, tc := range []struct {
		in, user, pass string
		want           RedisTarget
		err            string
	}{
		{in: "10.0.0.1:6380", want: RedisTarget{Addr: "10.0.0.1:6380"}},
		{in: "redis-svc", want: RedisTarget{Addr: "redis-svc:6379"}},
		{in: "redis://redis.ns.svc:6379", want: RedisTarget{Addr: "redis.ns.svc:6379"}},
		{in: "redis://u:p@h:1/2", want: RedisTarget{Addr: "h:1", Username: "u", Password: "p", DB: 2}},
		{in: "redis://:p@h:1", pass: "env", want: RedisTarget{Addr: "h:1", Password: "env"}},
		{in: "rediss://h:6380", user: "alice", want: RedisTarget{Addr: "h:6380", TLS: true, Username: "alice"}},
		{in: "[::1]:7000", want: RedisTarget{Addr: "[::1]:7000"}},
		{in: "", err: "RAY_REDIS_ADDRESS"},
		{in: "h1:1,h2:2", err: "several"},
		{in: "http://h:1", err: "scheme"},
		{in: "redis://h:1/x", err: "not a number"},
	} {
		got, err := ParseRedisAddress(tc.in, tc.user, tc.pass)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %+v %v, want %+v", tc.in, got, err, tc.want)
		}
		if tc.want.Password != "" && strings.Contains(got.String(), tc.want.Password) {
			t.Errorf("%q: String() %q shows the password", tc.in, got)
		}
	}
}

func TestConfigBackend(t *testing.T) {
	t.Setenv(EnvRedisAddress, "")
	t.Setenv(EnvPath, "/data/gcs")
	t.Setenv(EnvNamespace, "uid-1")
	c := ConfigFromEnv()
	if c.Backend() != "file" || c.Namespace != "uid-1" {
		t.Fatalf("%+v", c)
	}
	t.Setenv(EnvRedisAddress, "redis:6379")
	if ConfigFromEnv().Backend() != "redis" {
		t.Fatal("RAY_REDIS_ADDRESS does not select redis")
	}
	if (Config{}).Backend() != "memory" {
		t.Fatal("default is not memory")
	}
	if _, err := (Config{Namespace: "a b"}).namespace(); err == nil {
		t.Fatal("a namespace with a space was accepted")
	}
}
