package data

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// physicalNames lists a physical plan's operators, source first.
func physicalNames(op *physicalOp) []string {
	var out []string
	for ; op != nil; op = op.input {
		out = append(out, op.name)
	}
	slices.Reverse(out)
	return out
}

func TestPlanFusion(t *testing.T) {
	src, err := FromItems(testCtx(t), []Row{{"id": int64(1)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ds   *Dataset
		want []string
	}{
		{"a read fuses with the maps after it", Range(10).Map(mapRow).Filter(keepOdd).DropColumns("sq"),
			[]string{"ReadRange->Map(test.mapRow)->Filter(test.keepOdd)->DropColumns(sq)"}},
		{"an actor pool is its own operator", Range(10).Map(mapRow).MapBatches(poolTag).Filter(keepOdd),
			[]string{"ReadRange->Map(test.mapRow)", "MapBatches(test.poolTag)", "Filter(test.keepOdd)"}},
		{"different resources do not fuse", Range(10).Map(mapRow).Filter(keepOdd, NumGPUs(1)).Filter(keepOdd, NumGPUs(1)),
			[]string{"ReadRange->Map(test.mapRow)", "Filter(test.keepOdd)->Filter(test.keepOdd)"}},
		{"blocks in memory are a source of their own", src.Map(mapRow).Map(mapRow),
			[]string{"FromItems", "Map(test.mapRow)->Map(test.mapRow)"}},
		{"a limit stops fusion", Range(10).Limit(3).Map(mapRow),
			[]string{"ReadRange", "Limit(3)", "Map(test.mapRow)"}},
		{"an all-to-all stops fusion", Range(10).Map(mapRow).Sort("id", false).Map(mapRow),
			[]string{"ReadRange->Map(test.mapRow)", "Sort(id)", "Map(test.mapRow)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := plan(c.ds.op, 4, 100)
			if err != nil {
				t.Fatal(err)
			}
			if got := physicalNames(p); !slices.Equal(got, c.want) {
				t.Fatalf("operators %q, want %q", got, c.want)
			}
		})
	}
}

func TestPlanReads(t *testing.T) {
	p, err := plan(Range(10, OverrideNumBlocks(3)).op, 4, 7)
	if err != nil {
		t.Fatal(err)
	}
	var spans []string
	for _, r := range p.reads {
		if r.Rows != 7 {
			t.Fatalf("a read of %d rows a block, want 7", r.Rows)
		}
		spans = append(spans, fmt.Sprintf("%d..%d", r.Start, r.End))
	}
	if want := []string{"0..3", "3..6", "6..10"}; !slices.Equal(spans, want) {
		t.Fatalf("reads %v, want %v", spans, want)
	}
	p, err = plan(Range(1000).op, 4, 100)
	if err != nil || len(p.reads) != 8 {
		t.Fatalf("Range on 4 CPUs: %d reads (%v), want 8", len(p.reads), err)
	}
	if _, err := plan(Range(10).Limit(-1).op, 4, 100); err == nil || !strings.Contains(err.Error(), "negative limit") {
		t.Fatalf("a negative limit planned: %v", err)
	}
}
