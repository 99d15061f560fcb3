package data

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/goray-dev/goray/runtime/ray"
)

// Writes are two-phase so that a failed write leaves nothing that looks
// complete: every block is written under a hidden temporary name (readers
// of this package, like Arrow's and Spark's, skip names starting with "."
// or "_"), and only once every block of the dataset is written does the
// driver rename them all to their final names, each on the node that
// wrote it. A failure before that removes the temporary files.

// writeSpec is a write stage's target.
type writeSpec struct {
	Format string `json:"format"` // parquet, csv, json
	Dir    string `json:"dir"`
	// ID names this write's files, distinct from other writes' into Dir.
	ID string `json:"id"`
}

func (w writeSpec) ext() string {
	if w.Format == "json" {
		return "jsonl"
	}
	return w.Format
}

// writtenSchema is the block a write stage emits per file it wrote.
var writtenSchema = arrow.NewSchema([]arrow.Field{
	{Name: "tmp", Type: arrow.BinaryTypes.String},
	{Name: "final", Type: arrow.BinaryTypes.String},
	{Name: "node", Type: arrow.BinaryTypes.String},
	{Name: "rows", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// writeStage writes each block it is given to a file.
type writeStage struct {
	spec  writeSpec
	index int
	seq   int
}

func (w *writeStage) push(_ context.Context, rec arrow.RecordBatch, src string, emit srcEmit) error {
	name := fmt.Sprintf("%s_%06d_%06d.%s", w.spec.ID, w.index, w.seq, w.spec.ext())
	w.seq++
	final := filepath.Join(w.spec.Dir, name)
	tmp := filepath.Join(w.spec.Dir, "."+name+".tmp")
	if err := writeFile(w.spec.Format, tmp, rec); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, writtenSchema)
	defer b.Release()
	b.Field(0).(*array.StringBuilder).Append(tmp)
	b.Field(1).(*array.StringBuilder).Append(final)
	b.Field(2).(*array.StringBuilder).Append(ray.NodeID())
	b.Field(3).(*array.Int64Builder).Append(rec.NumRows())
	return emit(b.NewRecordBatch(), src)
}

func (w *writeStage) flush(context.Context, srcEmit) error { return nil }

// writeFile writes rec as one file of format at path.
func writeFile(format, path string, rec arrow.RecordBatch) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	switch format {
	case "parquet":
		props := parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy))
		var pw *pqarrow.FileWriter
		if pw, err = pqarrow.NewFileWriter(rec.Schema(), bw, props, pqarrow.DefaultWriterProps()); err == nil {
			err = pw.Write(rec)
			if cerr := pw.Close(); err == nil {
				err = cerr
			}
		}
	case "csv":
		cw := arrowcsv.NewWriter(bw, rec.Schema(), arrowcsv.WithHeader(true), arrowcsv.WithNullWriter(""))
		if err = cw.Write(rec); err == nil {
			err = cw.Flush()
		}
	case "json":
		err = array.RecordToJSON(rec, bw)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fileMove is a temporary file and its final name.
type fileMove struct {
	Tmp   string `json:"tmp"`
	Final string `json:"final"`
}

// finishSpec commits (renames), aborts (removes) or checks (finds)
// written files.
type finishSpec struct {
	Files  []fileMove `json:"files"`
	Commit bool       `json:"commit"`
	Check  bool       `json:"check,omitempty"`
}

// finishFiles renames each file to its final name, or removes it, or
// (Check) makes sure it is there.
func finishFiles(spec finishSpec) error {
	var errs []error
	for _, f := range spec.Files {
		var err error
		switch {
		case spec.Check:
			_, err = os.Stat(f.Tmp)
		case spec.Commit:
			err = os.Rename(f.Tmp, f.Final)
		default:
			if err = os.Remove(f.Tmp); errors.Is(err, os.ErrNotExist) {
				err = nil
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// finishTask runs finishFiles on the node that wrote the files.
var finishTask = ray.Task("goray.data.finish", func(ctx context.Context, spec finishSpec) (int, error) {
	return len(spec.Files), finishFiles(spec)
})

// finishWrite commits or aborts every file of a write: on this process's
// node directly, on other nodes with a task pinned to the node. The files
// of a node that died are handled here too: on a shared file system this
// process sees them; on a disk that died with its node it does not, and a
// commit then fails before it renames anything. A commit first checks
// that every file is there, and else removes them all: it never leaves a
// part of the files under their final names.
func finishWrite(ctx context.Context, byNode map[string][]fileMove, commit bool) error {
	alive := map[string]bool{}
	nodes, nerr := ray.Nodes(ctx)
	for _, n := range nodes {
		alive[n.NodeId] = n.Alive
	}
	run := func(check bool) error {
		var errs []error
		var refs []ray.Ref[int]
		for node, files := range byNode {
			spec := finishSpec{Files: files, Commit: commit, Check: check}
			if node == ray.NodeID() || node == "" || nerr == nil && !alive[node] {
				if err := finishFiles(spec); err != nil {
					errs = append(errs, err)
				}
				continue
			}
			refs = append(refs, finishTask.Remote(ctx, spec, ray.NodeAffinity(node, false), ray.NumCPUs(0)))
		}
		for _, r := range refs {
			if _, err := ray.Get(ctx, r); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	if commit {
		if cerr := run(true); cerr != nil {
			commit = false
			if aerr := run(false); aerr != nil {
				return errors.Join(cerr, fmt.Errorf("removing the temporary files: %w", aerr))
			}
			return fmt.Errorf("a written file is missing (was its node lost?), the write is undone: %w", cerr)
		}
	}
	return run(false)
}

// absPath makes dir absolute: workers run elsewhere.
func absPath(dir string) (string, error) {
	if dir == "" {
		return "", fmt.Errorf("an empty directory")
	}
	return filepath.Abs(dir)
}
