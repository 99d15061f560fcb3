package data

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not say %q", err, p)
		}
	}
}

var panicky = MapFn("test.panicky", func(ctx context.Context, it testItem) (testItem, error) {
	if it.ID == 123 {
		panic(fmt.Sprintf("cannot handle id %d", it.ID))
	}
	return it, nil
})

var failing = FilterFn("test.failing", func(ctx context.Context, r Row) (bool, error) {
	if r["id"].(int64) == 7 {
		return false, fmt.Errorf("id 7 is cursed")
	}
	return true, nil
})

func TestUserFunctionErrorsNameTheRow(t *testing.T) {
	ctx := testCtx(t)
	items := randomItems(1, 500)
	ds, err := FromItems(ctx, items, OverrideNumBlocks(5)) // rows 100..199 are block 1
	if err != nil {
		t.Fatal(err)
	}
	_, err = ds.Map(panicky).TakeAll(ctx)
	wantErr(t, err, "Map(test.panicky)", "failed on row 23", "{b: ", "id: 123", "panic: cannot handle id 123")

	_, err = Range(20).Filter(failing).Count(ctx)
	wantErr(t, err, "Filter(test.failing)", "failed on row", "id: 7", "id 7 is cursed")

	// Rows read from a file name the file.
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "f.csv"), "id\n1\n7\n")
	_, err = ReadCSV(dir).Filter(failing).Count(ctx)
	wantErr(t, err, "Filter(test.failing)", "row 1 of a block read from "+filepath.Join(dir, "f.csv"))
}

func TestBadFiles(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.parquet")
	writeTestFile(t, bad, "this is not parquet at all")
	_, err := ReadParquet(bad).Count(ctx)
	wantErr(t, err, "read parquet file "+bad)

	writeTestFile(t, filepath.Join(dir, "bad.jsonl"), "{\"a\": 1}\n[1, 2]\n")
	_, err = ReadJSON(filepath.Join(dir, "bad.jsonl")).Count(ctx)
	wantErr(t, err, "read json file "+filepath.Join(dir, "bad.jsonl"), "line 2 is not a JSON object")

	writeTestFile(t, filepath.Join(dir, "short.csv"), "a,b\n1,2\n3\n")
	_, err = ReadCSV(filepath.Join(dir, "short.csv")).Count(ctx)
	wantErr(t, err, "read csv file "+filepath.Join(dir, "short.csv"))

	// A file that cannot be opened (a link to nothing).
	dangling := filepath.Join(dir, "gone.txt")
	if err := os.Symlink(filepath.Join(dir, "nothing"), dangling); err != nil {
		t.Fatal(err)
	}
	_, err = ReadText(dangling).Count(ctx)
	wantErr(t, err, dangling, "no such file")
}

func TestSchemaMismatchBetweenFiles(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "1.csv"), "id,name\n1,a\n")
	writeTestFile(t, filepath.Join(dir, "2.csv"), "id,name\n2,b\n")
	writeTestFile(t, filepath.Join(dir, "3.csv"), "id,label\n3,c\n")
	for _, blocks := range []int{0, 1} { // a task per file, and one task for all
		_, err := ReadCSV(dir, OverrideNumBlocks(blocks)).TakeAll(ctx)
		wantErr(t, err, "file "+filepath.Join(dir, "3.csv")+" has schema {id: int64, label: utf8}",
			"file "+filepath.Join(dir, "1.csv")+" has {id: int64, name: utf8}")
	}
}

var failOn = MapFn("test.failOn", func(ctx context.Context, r Row) (Row, error) {
	if r["id"].(int64) == 950 {
		return nil, fmt.Errorf("no row 950")
	}
	return r, nil
})

// A failed write leaves no file that looks written, nor temporary ones.
func TestFailedWriteLeavesNothing(t *testing.T) {
	ctx := testCtx(t)
	for _, write := range []func(*Dataset, context.Context, string) error{(*Dataset).WriteParquet, (*Dataset).WriteCSV, (*Dataset).WriteJSON} {
		dir := filepath.Join(t.TempDir(), "out")
		opts := DefaultExecutionOptions()
		opts.MaxTasksPerOp = 2
		err := write(Range(1000, OverrideNumBlocks(10)).Map(failOn).WithExecutionOptions(opts), ctx, dir)
		wantErr(t, err, "Map(test.failOn)", "no row 950")
		visible, hidden := visibleFiles(t, dir)
		if len(visible) != 0 || len(hidden) != 0 {
			t.Fatalf("a failed write left %v and %v", visible, hidden)
		}
	}
	// The same write without the failure commits every block.
	dir := filepath.Join(t.TempDir(), "out")
	if err := Range(1000, OverrideNumBlocks(10)).WriteParquet(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if visible, hidden := visibleFiles(t, dir); len(visible) != 10 || len(hidden) != 0 {
		t.Fatalf("files %v, hidden %v", visible, hidden)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedBlockRefused(t *testing.T) {
	rec, err := rowsToBatch([]Row{{"a": int64(1)}, {"a": int64(2)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeBlock(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeBlock(b); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 5, len(b) / 2, len(b) - 1} {
		d := append([]byte(nil), b...)
		d[i] ^= 0x40
		if _, err := decodeBlock(d); err == nil {
			t.Fatalf("a block with byte %d damaged decoded", i)
		}
	}
	if _, err := decodeBlock(b[:len(b)-3]); err == nil {
		t.Fatal("a cut block decoded")
	}
}

func TestInvalidUTF8Refused(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "a.csv"), "id,name\n1,ok\n2,bad\xff\n")
	_, err := ReadCSV(dir).Count(ctx)
	wantErr(t, err, filepath.Join(dir, "a.csv"), `row 2, column "name": not valid UTF-8`)
	writeTestFile(t, filepath.Join(dir, "t.txt"), "fine\n\xfe\n")
	_, err = ReadText(filepath.Join(dir, "t.txt")).Count(ctx)
	wantErr(t, err, filepath.Join(dir, "t.txt"), "line 2 is not valid UTF-8")
}
