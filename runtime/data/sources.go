package data

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/goray-dev/goray/runtime/ray"
)

// ReadOption configures a source.
type ReadOption func(*readOptions)

type readOptions struct {
	numBlocks    int
	includePaths bool
	columns      []string
	more         []string
	extensions   []string
	extSet       bool
}

// OverrideNumBlocks sets how many read tasks (and so at least how many
// blocks) a source makes (Ray's override_num_blocks). By default a file
// source reads each file in its own task, and Range makes twice the
// cluster's CPUs of blocks.
func OverrideNumBlocks(n int) ReadOption { return func(o *readOptions) { o.numBlocks = n } }

// ReadColumns reads only these columns, in this order (Ray's columns=): a
// Parquet file's other columns are not even read. A file without one of
// them fails the read.
func ReadColumns(cols ...string) ReadOption { return func(o *readOptions) { o.columns = cols } }

// IncludePaths adds a "path" column: the file each row was read from.
func IncludePaths() ReadOption { return func(o *readOptions) { o.includePaths = true } }

// MorePaths reads these paths too (files, directories or globs).
func MorePaths(paths ...string) ReadOption {
	return func(o *readOptions) { o.more = append(o.more, paths...) }
}

// FileExtensions keeps only the files under a directory whose names end
// with one of exts (Ray's file_extensions; nil keeps every file). The
// defaults are the format's: parquet; csv; json and jsonl; any for text
// and binary.
func FileExtensions(exts ...string) ReadOption {
	return func(o *readOptions) { o.extensions, o.extSet = exts, true }
}

// Range is the integers [0, n) in column "id" (Ray's range).
func Range(n int64, opts ...ReadOption) *Dataset {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	op := &logicalOp{name: "ReadRange"}
	op.lazyReads = func(cpus int) ([]readSpec, error) {
		if n < 0 {
			return nil, fmt.Errorf("Range(%d): a negative count", n)
		}
		blocks := o.numBlocks
		if blocks <= 0 {
			blocks = 2 * cpus
		}
		blocks = int(max(1, min(int64(blocks), n)))
		reads := make([]readSpec, 0, blocks)
		for i := range int64(blocks) {
			lo, hi := n*i/int64(blocks), n*(i+1)/int64(blocks)
			reads = append(reads, readSpec{Format: "range", Start: lo, End: hi})
		}
		return reads, nil
	}
	return newSource(op)
}

// FromItems is a dataset of in-memory rows (Ray's from_items): Rows or
// structs, put in the object store from this process in blocks of at
// most the execution options' TargetBlockRows rows (or OverrideNumBlocks
// blocks).
func FromItems[T any](ctx context.Context, items []T, opts ...ReadOption) (*Dataset, error) {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	per := DefaultExecutionOptions().TargetBlockRows
	if o.numBlocks > 0 {
		per = max(1, (len(items)+o.numBlocks-1)/o.numBlocks)
	}
	var blocks []bundle
	if len(items) == 0 {
		// No rows: a struct type still tells the columns.
		if schema := structSchema(reflect.TypeFor[T]()); schema != nil {
			b, err := putBlock(ctx, emptyBatch(schema), "")
			if err != nil {
				return nil, fmt.Errorf("FromItems: %w", err)
			}
			blocks = append(blocks, b)
		}
	}
	for lo := 0; lo < len(items); lo += per {
		hi := min(lo+per, len(items))
		rows := make([]Row, 0, hi-lo)
		for i := lo; i < hi; i++ {
			r, err := toRow(items[i])
			if err != nil {
				return nil, fmt.Errorf("FromItems: item %d: %w", i, err)
			}
			rows = append(rows, r)
		}
		hint := structSchema(reflect.TypeFor[T]())
		rec, err := rowsToBatch(rows, hint)
		if err != nil {
			return nil, fmt.Errorf("FromItems: %w", err)
		}
		b, err := putBlock(ctx, rec, "")
		if err != nil {
			return nil, fmt.Errorf("FromItems: %w", err)
		}
		blocks = append(blocks, b)
	}
	return newSource(&logicalOp{name: "FromItems", blocks: blocks}), nil
}

// putBlock puts a batch in the object store.
func putBlock(ctx context.Context, r arrow.RecordBatch, src string) (bundle, error) {
	enc, err := encodeBlock(r)
	if err != nil {
		return bundle{}, err
	}
	ref, err := ray.Put(ctx, enc)
	if err != nil {
		return bundle{}, err
	}
	return bundle{ref: ref, meta: blockMeta{Rows: r.NumRows(), Bytes: int64(len(enc)), Schema: schemaString(r.Schema()), Source: src}}, nil
}

// ReadParquet reads Parquet files: a file, a directory (every .parquet
// file under it) or a glob; MorePaths adds others.
func ReadParquet(path string, opts ...ReadOption) *Dataset {
	return readFiles("ReadParquet", "parquet", []string{".parquet"}, path, opts)
}

// ReadCSV reads CSV files with a header line. Column types are inferred
// from each file's first rows: int64, float64, bool or string; an empty
// value is a null.
func ReadCSV(path string, opts ...ReadOption) *Dataset {
	return readFiles("ReadCSV", "csv", []string{".csv"}, path, opts)
}

// ReadJSON reads JSON lines files: one object per line, columns the union
// of the first lines' keys, types inferred from their values (numbers are
// int64 when all are integers, else float64; arrays are lists; objects
// structs).
func ReadJSON(path string, opts ...ReadOption) *Dataset {
	return readFiles("ReadJSON", "json", []string{".json", ".jsonl"}, path, opts)
}

// ReadText reads text files, a row per line, in column "text".
func ReadText(path string, opts ...ReadOption) *Dataset {
	return readFiles("ReadText", "text", nil, path, opts)
}

// ReadBinaryFiles reads each file whole as one row, column "bytes".
func ReadBinaryFiles(path string, opts ...ReadOption) *Dataset {
	return readFiles("ReadBinaryFiles", "binary", nil, path, opts)
}

func readFiles(name, format string, exts []string, path string, opts []ReadOption) *Dataset {
	var o readOptions
	for _, f := range opts {
		f(&o)
	}
	if o.extSet {
		exts = o.extensions
	}
	paths := append([]string{path}, o.more...)
	op := &logicalOp{name: name}
	op.lazyReads = func(cpus int) ([]readSpec, error) {
		files, err := expandPaths(paths, exts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		tasks := len(files)
		if o.numBlocks > 0 {
			tasks = min(o.numBlocks, len(files))
		}
		reads := make([]readSpec, tasks)
		for i := range reads {
			reads[i] = readSpec{Format: format, IncludePaths: o.includePaths, Columns: o.columns}
		}
		// Consecutive files go to one task, so blocks keep the files' order.
		for i, f := range files {
			t := i * tasks / len(files)
			reads[t].Paths = append(reads[t].Paths, f)
		}
		return reads, nil
	}
	return newSource(op)
}

// expandPaths turns paths (files, directories, globs) into files, sorted
// within each path. Under a directory, hidden files (".x", "_x": the
// temporary and marker files of writers) are skipped, and only names with
// one of exts (if any) are kept.
func expandPaths(paths []string, exts []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		var matches []string
		if strings.ContainsAny(p, "*?[") {
			m, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("glob %q: %w", p, err)
			}
			matches = m
		} else {
			matches = []string{p}
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("no file matches %q", p)
		}
		var files []string
		for _, m := range matches {
			st, err := os.Stat(m)
			if err != nil {
				return nil, err
			}
			if !st.IsDir() {
				files = append(files, m)
				continue
			}
			err = filepath.WalkDir(m, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				base := d.Name()
				if path != m && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.IsDir() {
					return nil
				}
				if len(exts) > 0 && !slices.ContainsFunc(exts, func(e string) bool { return strings.HasSuffix(base, e) }) {
					return nil
				}
				files = append(files, path)
				return nil
			})
			if err != nil {
				return nil, err
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no %s files under %q", strings.Join(exts, "/"), p)
		}
		slices.Sort(files)
		for _, f := range files {
			// Absolute: the reading workers run in other directories.
			a, err := filepath.Abs(f)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}
