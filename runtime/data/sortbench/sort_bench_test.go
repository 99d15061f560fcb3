package sortbench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/goray-dev/goray/runtime/data"
	"github.com/goray-dev/goray/runtime/ray"
)

const (
	keyBytes    = 10
	valueBytes  = 90
	recordBytes = keyBytes + valueBytes
	storeBytes  = 2 << 30
)

func TestMain(m *testing.M) {
	os.Exit(ray.RunTests(m, ray.WithNumCPUs(4), ray.WithObjectStoreMemory(storeBytes)))
}

// splitmix64 is the key generator: well spread keys from the row id.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

var (
	keyType   = &arrow.FixedSizeBinaryType{ByteWidth: keyBytes}
	valueType = &arrow.FixedSizeBinaryType{ByteWidth: valueBytes}
	schema    = arrow.NewSchema([]arrow.Field{{Name: "key", Type: keyType}, {Name: "value", Type: valueType}}, nil)
)

// records turns a batch of ids into 100-byte records: a pseudo-random key
// and a value that repeats the id (the sort is checked by it).
var records = data.MapBatchesFn("sortbench.records", func(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	ids := b.Column(0).(*array.Int64).Int64Values()
	keys := make([]byte, len(ids)*keyBytes)
	vals := make([]byte, len(ids)*valueBytes)
	for i, id := range ids {
		k := keys[i*keyBytes:]
		binary.BigEndian.PutUint64(k, splitmix64(uint64(id)))
		binary.BigEndian.PutUint16(k[8:], uint16(splitmix64(uint64(id)^0xabcdef)))
		v := vals[i*valueBytes : (i+1)*valueBytes]
		for j := 0; j+8 <= valueBytes; j += 8 {
			binary.LittleEndian.PutUint64(v[j:], uint64(id))
		}
	}
	col := func(t arrow.DataType, buf []byte) arrow.Array {
		return array.MakeFromData(array.NewData(t, len(ids), []*memory.Buffer{nil, memory.NewBufferBytes(buf)}, nil, 0, 0))
	}
	return array.NewRecordBatch(schema, []arrow.Array{col(keyType, keys), col(valueType, vals)}, int64(len(ids))), nil
})

// diskFloor writes n bytes to a file in dir and reads them back, both
// sequential, with the page cache dropped in between: the time the disk
// needs to read and write the bytes once each.
func diskFloor(b *testing.B, dir string, n int64) (write, read time.Duration) {
	path := filepath.Join(dir, "floor")
	defer os.Remove(path)
	buf := bytes.Repeat([]byte{0x5a}, 8<<20)
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for off := int64(0); off < n; off += int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), n-off)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	write = time.Since(start)
	// Out of the page cache, so the read comes from the disk.
	_ = fadviseDontNeed(f)
	if _, err := f.Seek(0, 0); err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	for {
		k, err := f.Read(buf)
		if k == 0 || err != nil {
			break
		}
	}
	read = time.Since(start)
	_ = f.Close()
	return write, read
}

func fadviseDontNeed(f *os.File) error {
	const fadvDontNeed = 4
	_, _, e := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func BenchmarkSort(b *testing.B) {
	gb := 1.0
	if s := os.Getenv("GORAY_SORT_GB"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 {
			b.Fatalf("GORAY_SORT_GB=%q: want a positive number of GB", s)
		}
		gb = v
	}
	n := int64(gb * 1e9 / recordBytes)
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		// The floor, on the disk the spill files go to (the system's
		// temporary directory).
		fw, fr := diskFloor(b, os.TempDir(), n*recordBytes)
		fmt.Fprintf(os.Stderr, "floor: write %v (%.0f MB/s), read %v (%.0f MB/s)\n", fw.Round(time.Millisecond),
			float64(n*recordBytes)/fw.Seconds()/1e6, fr.Round(time.Millisecond), float64(n*recordBytes)/fr.Seconds()/1e6)
		// The records are made as the sort reads them (CloudSort reads
		// them from storage; making them costs CPU instead of a disk read).
		b.StartTimer()
		start := time.Now()
		var rows int64
		var last []byte
		var sum uint64
		for batch, err := range data.Range(n).MapBatches(records).Sort("key", false).IterBatches(ctx, data.IterBatchSize(0)) {
			if err != nil {
				b.Fatal(err)
			}
			keys := batch.Column(0).(*array.FixedSizeBinary)
			vals := batch.Column(1).(*array.FixedSizeBinary)
			for i := range keys.Len() {
				k := keys.Value(i)
				if last != nil && bytes.Compare(last, k) > 0 {
					b.Fatalf("record %d out of order", rows)
				}
				last = append(last[:0], k...)
				sum += binary.LittleEndian.Uint64(vals.Value(i))
				rows++
			}
		}
		took := time.Since(start)
		b.StopTimer()
		if rows != n || sum != uint64(n)*uint64(n-1)/2 {
			b.Fatalf("sorted %d records (ids summing to %d), want %d (%d)", rows, sum, n, uint64(n)*uint64(n-1)/2)
		}
		floor := fw + fr
		fmt.Fprintf(os.Stderr, "sort: %v for %.1f GB = %.2f x the floor (%v)\n", took.Round(time.Millisecond), float64(n*recordBytes)/1e9,
			took.Seconds()/floor.Seconds(), floor.Round(time.Millisecond))
		b.ReportMetric(took.Seconds(), "sort-s")
		b.ReportMetric(floor.Seconds(), "floor-s")
		b.ReportMetric(took.Seconds()/floor.Seconds(), "x-floor")
		b.StartTimer()
	}
}
