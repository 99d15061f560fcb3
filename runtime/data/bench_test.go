package data

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/goray-dev/goray/runtime/bench"
)

// The benchmarks' shapes are Ray Data's release benchmarks: read_parquet,
// map_batches and iter_batches throughput over a Parquet dataset, and the
// same MapBatches work done by a hand-written parallel Go program on all
// cores (the floor goray Data is compared against). Each reports rows/s.

const (
	benchFiles       = 8
	benchRowsPerFile = 1_000_000
)

var benchDirOnce sync.Once
var benchDirPath string

// benchDir writes the Parquet dataset once per process: benchFiles files
// of columns id (int64) and x (float64).
func benchDir(b *testing.B) string {
	b.Helper()
	benchDirOnce.Do(func() {
		dir, err := os.MkdirTemp("", "goray-data-bench")
		if err != nil {
			b.Fatal(err)
		}
		schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "x", Type: arrow.PrimitiveTypes.Float64}}, nil)
		for f := range benchFiles {
			ib := array.NewInt64Builder(memory.DefaultAllocator)
			xb := array.NewFloat64Builder(memory.DefaultAllocator)
			for i := range benchRowsPerFile {
				id := int64(f*benchRowsPerFile + i)
				ib.Append(id)
				xb.Append(float64(id) * 0.5)
			}
			rec := array.NewRecordBatch(schema, []arrow.Array{ib.NewArray(), xb.NewArray()}, benchRowsPerFile)
			if err := writeFile("parquet", filepath.Join(dir, fmt.Sprintf("part-%02d.parquet", f)), rec); err != nil {
				b.Fatal(err)
			}
		}
		benchDirPath = dir
	})
	return benchDirPath
}

// benchWork is the MapBatches work: y = sqrt(x) + log1p(x), per row.
func benchWork(xs []float64) []float64 {
	ys := make([]float64, len(xs))
	for i, x := range xs {
		ys[i] = math.Sqrt(x) + math.Log1p(x)
	}
	return ys
}

var benchMap = MapBatchesFn("bench.work", func(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	xs := b.Column(1).(*array.Float64).Float64Values()
	ys := benchWork(xs)
	// The new column wraps the slice the work made (no copy into a
	// builder), as the floor keeps it.
	y := array.NewFloat64Data(array.NewData(arrow.PrimitiveTypes.Float64, len(ys),
		[]*memory.Buffer{nil, memory.NewBufferBytes(arrow.Float64Traits.CastToBytes(ys))}, nil, 0, 0))
	fields := append(b.Schema().Fields(), arrow.Field{Name: "y", Type: arrow.PrimitiveTypes.Float64})
	cols := append(b.Columns()[:b.NumCols():b.NumCols()], y)
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
})

// benchRows runs one pass of a benchmark per iteration (each returning
// the rows it saw) and reports rows/s and the CPU time every process of
// the run used per row: the test process (driver, GCS, node, or the
// floor's goroutines) and the embedded cluster's workers. On a machine
// shared with other work the CPU time per row is the steadier measure of
// what a change costs; the rate follows the load.
//
// One pass runs first, untimed: it starts the cluster's workers (a process
// each, once per cluster) and warms the page cache and the heaps, so the
// timed passes measure the throughput of a running cluster.
func benchRows(b *testing.B, pass func() int64) {
	pass()
	c0, cpu := bench.TreeCPU()
	var rows int64
	for b.Loop() {
		rows = pass()
	}
	c1, _ := bench.TreeCPU()
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	if cpu && rows > 0 {
		b.ReportMetric((c1-c0)*1e9/(float64(rows)*float64(b.N)), "cpu-ns/row")
	}
}

func BenchmarkReadParquet(b *testing.B) {
	ctx, dir := context.Background(), benchDir(b)
	benchRows(b, func() int64 {
		n, err := ReadParquet(dir).Count(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return n
	})
}

func BenchmarkMapBatchesParquet(b *testing.B) {
	ctx, dir := context.Background(), benchDir(b)
	benchRows(b, func() int64 {
		n, err := ReadParquet(dir).MapBatches(benchMap).Count(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return n
	})
}

func BenchmarkIterBatches(b *testing.B) {
	ctx, dir := context.Background(), benchDir(b)
	benchRows(b, func() int64 {
		var n int64
		for batch, err := range ReadParquet(dir).IterBatches(ctx, IterBatchSize(4096), Prefetch(4)) {
			if err != nil {
				b.Fatal(err)
			}
			n += batch.NumRows()
		}
		return n
	})
}

// BenchmarkMapBatchesParquetFloor is the floor: the same reads and work
// by a plain Go program, a goroutine per core taking files in turn.
func BenchmarkMapBatchesParquetFloor(b *testing.B) {
	dir := benchDir(b)
	files, err := expandPaths([]string{dir}, []string{".parquet"})
	if err != nil {
		b.Fatal(err)
	}
	benchRows(b, func() int64 {
		var mu sync.Mutex
		var total int64
		next := make(chan string, len(files))
		for _, f := range files {
			next <- f
		}
		close(next)
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for path := range next {
					n, err := floorFile(path)
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return total
	})
}

func floorFile(path string) (int64, error) {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return 0, err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		return 0, err
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return 0, err
	}
	defer rr.Release()
	var n int64
	for rr.Next() {
		rec := rr.RecordBatch()
		ys := benchWork(rec.Column(1).(*array.Float64).Float64Values())
		n += int64(len(ys))
	}
	return n, nil
}
