package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the embedded store's file inside its directory.
const FileName = "gcs.db"

// File is the embedded store: one bbolt file, a bucket per namespace with
// a bucket per table inside. A batch is one transaction, committed and
// fsynced before Apply returns. The file is locked: a second GCS opening it
// fails instead of sharing it.
type File struct {
	db   *bolt.DB
	path string
	ns   []byte
}

// OpenFile opens (creating) dir/gcs.db for namespace ns. dir may also name
// an existing bbolt file.
func OpenFile(dir, ns string) (*File, error) {
	if ns == "" {
		ns = DefaultNamespace
	}
	path := dir
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		// A file: use it as it is.
	} else {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("GCS storage directory %s: %w", dir, err)
		}
		path = filepath.Join(dir, FileName)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, FreelistType: bolt.FreelistMapType})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("GCS storage %s is locked by another process (another GCS on the same volume?)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open GCS storage %s: %w", path, err)
	}
	return &File{db: db, path: path, ns: []byte(ns)}, nil
}

// Apply implements Store: one transaction, fsynced.
func (f *File) Apply(ctx context.Context, ops ...Op) error {
	if err := checkBatch(ops); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return f.db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(f.ns)
		if err != nil {
			return err
		}
		buckets := map[string]*bolt.Bucket{}
		for _, op := range ops {
			b := buckets[op.Table]
			if b == nil {
				if b, err = root.CreateBucketIfNotExists([]byte(op.Table)); err != nil {
					return err
				}
				buckets[op.Table] = b
			}
			if op.Delete {
				err = b.Delete([]byte(op.Key))
			} else {
				// bbolt keeps a nil value as a nil; store the empty value.
				v := op.Value
				if v == nil {
					v = []byte{}
				}
				err = b.Put([]byte(op.Key), v)
			}
			if err != nil {
				return fmt.Errorf("table %s: %w", op.Table, err)
			}
		}
		return nil
	})
}

func (f *File) bucket(tx *bolt.Tx, table string) *bolt.Bucket {
	root := tx.Bucket(f.ns)
	if root == nil {
		return nil
	}
	return root.Bucket([]byte(table))
}

// Get implements Store.
func (f *File) Get(ctx context.Context, table, key string) ([]byte, bool, error) {
	var out []byte
	found := false
	err := f.db.View(func(tx *bolt.Tx) error {
		b := f.bucket(tx, table)
		if b == nil {
			return nil
		}
		v := b.Get([]byte(key))
		if v == nil {
			return nil
		}
		if err := checkValue(table, key, len(v)); err != nil {
			return err
		}
		found, out = true, append([]byte{}, v...)
		return nil
	})
	return out, found, err
}

// Scan implements Store.
func (f *File) Scan(ctx context.Context, table string, fn func(key string, value []byte) error) error {
	return f.db.View(func(tx *bolt.Tx) error {
		b := f.bucket(tx, table)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if v == nil && b.Bucket(k) != nil {
				continue // a nested bucket is not a record
			}
			if err := checkValue(table, string(k), len(v)); err != nil {
				return err
			}
			// Values are valid only inside the transaction: copy.
			if err := fn(string(k), append([]byte{}, v...)); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteNamespace removes the namespace's data from the file.
func (f *File) DeleteNamespace() error {
	return f.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(f.ns) == nil {
			return nil
		}
		return tx.DeleteBucket(f.ns)
	})
}

// Durable is true.
func (f *File) Durable() bool { return true }

// String names the file and namespace.
func (f *File) String() string {
	return fmt.Sprintf("file %s (namespace %q)", f.path, string(f.ns))
}

// Close closes the file, releasing its lock.
func (f *File) Close() error { return f.db.Close() }

// Dir is the directory holding the file.
func (f *File) Dir() string { return filepath.Dir(f.path) }
