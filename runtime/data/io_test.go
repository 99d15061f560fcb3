package data

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// visibleFiles lists dir's files, and its hidden ones apart.
func visibleFiles(t *testing.T, dir string) (visible, hidden []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			hidden = append(hidden, e.Name())
		} else {
			visible = append(visible, e.Name())
		}
	}
	return visible, hidden
}

func TestWriteReadRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	formats := []struct {
		ext   string
		write func(d *Dataset, ctx context.Context, dir string) error
		read  func(path string, opts ...ReadOption) *Dataset
	}{
		{"parquet", (*Dataset).WriteParquet, ReadParquet},
		{"csv", (*Dataset).WriteCSV, ReadCSV},
		{"jsonl", (*Dataset).WriteJSON, ReadJSON},
	}
	for _, f := range formats {
		for _, n := range []int{1, 302} {
			t.Run(fmt.Sprintf("%s/n=%d", f.ext, n), func(t *testing.T) {
				items := randomItems(uint64(n), n)
				blocks := min(n, 1+n%4)
				ds, err := FromItems(ctx, items, OverrideNumBlocks(blocks))
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join(t.TempDir(), "out")
				if err := f.write(ds, ctx, dir); err != nil {
					t.Fatal(err)
				}
				visible, hidden := visibleFiles(t, dir)
				if len(visible) != blocks || len(hidden) != 0 {
					t.Fatalf("files %v, hidden %v; want %d files", visible, hidden, blocks)
				}
				for _, v := range visible {
					if filepath.Ext(v) != "."+f.ext {
						t.Fatalf("file %s", v)
					}
				}
				got := takeItems(t, ctx, f.read(dir))
				sameItems(t, got, items)
			})
		}
	}
}

func writeTestFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadCSVTypesAndNulls(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "a.csv"), "i,f,b,s\n1,1.5,true,x\n2,,false,\n,3,true,\"z,w\"\n")
	rows, err := ReadCSV(filepath.Join(dir, "a.csv")).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{"i": int64(1), "f": 1.5, "b": true, "s": "x"},
		{"i": int64(2), "f": nil, "b": false, "s": nil},
		{"i": nil, "f": 3.0, "b": true, "s": "z,w"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows %v\nwant %v", rows, want)
	}
}

func TestReadJSONLines(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "a.jsonl"), `{"id": 1, "v": [1.5, 2], "name": "a"}
{"id": 2, "v": [], "extra": true}

{"id": 3, "name": "c", "v": [3]}
`)
	rows, err := ReadJSON(dir).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{"id": int64(1), "v": []float64{1.5, 2}, "name": "a", "extra": nil},
		{"id": int64(2), "v": []float64{}, "name": nil, "extra": true},
		{"id": int64(3), "v": []float64{3}, "name": "c", "extra": nil},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("rows %v\nwant %v", rows, want)
	}
}

func TestReadTextAndBinaryPaths(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "b.txt"), "b1\nb2\n")
	writeTestFile(t, filepath.Join(dir, "a.txt"), "a1\n\na3")
	writeTestFile(t, filepath.Join(dir, "sub", "c.txt"), "c1\n")
	writeTestFile(t, filepath.Join(dir, ".hidden.txt"), "no\n")
	writeTestFile(t, filepath.Join(dir, "_SUCCESS"), "")
	opts := DefaultExecutionOptions()
	opts.TargetBlockRows = 1 // several blocks per file
	rows, err := ReadText(dir, IncludePaths()).WithExecutionOptions(opts).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s:%s", filepath.Base(r["path"].(string)), r["text"]))
	}
	want := []string{"a.txt:a1", "a.txt:", "a.txt:a3", "b.txt:b1", "b.txt:b2", "c.txt:c1"}
	if !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}

	// A glob, and more paths.
	rows, err = ReadBinaryFiles(filepath.Join(dir, "[ab].txt"), MorePaths(filepath.Join(dir, "sub")), IncludePaths()).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s=%q", filepath.Base(r["path"].(string)), r["bytes"]))
	}
	want = []string{`a.txt="a1\n\na3"`, `b.txt="b1\nb2\n"`, `c.txt="c1\n"`}
	if !slices.Equal(got, want) {
		t.Fatalf("rows %v, want %v", got, want)
	}

	// Fewer read tasks than files keep the files' order.
	n, err := ReadText(dir, OverrideNumBlocks(2)).Count(ctx)
	if err != nil || n != 6 {
		t.Fatalf("Count = %d, %v", n, err)
	}

	for _, p := range []string{filepath.Join(dir, "nope"), filepath.Join(dir, "*.none")} {
		if _, err := ReadText(p).Count(ctx); err == nil || !strings.Contains(err.Error(), "nope") && !strings.Contains(err.Error(), "no file matches") {
			t.Fatalf("reading %s: %v", p, err)
		}
	}
	if _, err := ReadParquet(dir).Count(ctx); err == nil || !strings.Contains(err.Error(), "no .parquet files under") {
		t.Fatalf("a directory without parquet files: %v", err)
	}
}

func TestReadOnlyColumns(t *testing.T) {
	ctx := testCtx(t)
	items := randomItems(8, 120)
	ds, err := FromItems(ctx, items, OverrideNumBlocks(3))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []struct {
		write func(*Dataset, context.Context, string) error
		read  func(string, ...ReadOption) *Dataset
	}{{(*Dataset).WriteParquet, ReadParquet}, {(*Dataset).WriteCSV, ReadCSV}, {(*Dataset).WriteJSON, ReadJSON}} {
		out := filepath.Join(dir, fmt.Sprint(len(dir), f))
		if err := f.write(ds, ctx, out); err != nil {
			t.Fatal(err)
		}
		rows, err := f.read(out, ReadColumns("s", "id"), IncludePaths()).TakeAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(items) {
			t.Fatalf("%d rows", len(rows))
		}
		for i, r := range rows {
			if len(r) != 3 || r["s"] != items[i].S || r["id"] != items[i].ID || r["path"] == nil {
				t.Fatalf("row %d: %v", i, r)
			}
		}
		s, err := f.read(out, ReadColumns("s", "id")).Schema(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := columnNames(s); !slices.Equal(got, []string{"s", "id"}) {
			t.Fatalf("columns %v", got)
		}
		_, err = f.read(out, ReadColumns("nope")).Count(ctx)
		wantErr(t, err, out, `no column "nope"`)
	}
}

// A Parquet read of some columns asks the reader for those only.
func TestParquetColumnPushdown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.parquet")
	rec, err := rowsToBatch([]Row{{"a": int64(1), "b": "x", "c": 2.5}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeFile("parquet", path, rec); err != nil {
		t.Fatal(err)
	}
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cols []string
		want []int
	}{{nil, nil}, {[]string{"c", "a"}, []int{0, 2}}, {[]string{"b", "nope"}, nil}} {
		if got := parquetColumns(fr, c.cols); !slices.Equal(got, c.want) {
			t.Fatalf("parquetColumns(%v) = %v, want %v", c.cols, got, c.want)
		}
	}
}

// The files of a node the cluster does not list alive are committed by
// the driver when it sees them (a shared file system); when one is
// missing, the commit renames nothing and removes every temporary file.
func TestCommitWithADeadWriter(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	move := func(name string, create bool) fileMove {
		m := fileMove{Tmp: filepath.Join(dir, "."+name+".tmp"), Final: filepath.Join(dir, name)}
		if create {
			if err := os.WriteFile(m.Tmp, []byte(name), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	const dead = "a-node-that-died"
	if err := finishWrite(ctx, map[string][]fileMove{dead: {move("a.parquet", true)}, "": {move("b.parquet", true)}}, true); err != nil {
		t.Fatal(err)
	}
	visible, hidden := visibleFiles(t, dir)
	if !slices.Equal(visible, []string{"a.parquet", "b.parquet"}) || len(hidden) != 0 {
		t.Fatalf("after a commit: %v, hidden %v", visible, hidden)
	}

	dir = t.TempDir()
	err := finishWrite(ctx, map[string][]fileMove{dead: {move("c.parquet", false)}, "": {move("d.parquet", true)}}, true)
	if err == nil || !strings.Contains(err.Error(), "the write is undone") || !strings.Contains(err.Error(), "c.parquet") {
		t.Fatalf("a commit with a file lost: %v", err)
	}
	if visible, hidden := visibleFiles(t, dir); len(visible)+len(hidden) != 0 {
		t.Fatalf("a failed commit left %v, hidden %v", visible, hidden)
	}
}
