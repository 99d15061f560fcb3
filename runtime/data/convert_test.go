package data

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// randomValue is a value of one of the Row value types, or nil.
func randomValue(rng *rand.Rand, kind int) any {
	if rng.IntN(10) == 0 {
		return nil
	}
	switch kind {
	case 0:
		return rng.Int64() - rng.Int64()
	case 1:
		return rng.NormFloat64()
	case 2:
		return fmt.Sprintf("s%x", rng.Uint32())
	case 3:
		return rng.IntN(2) == 0
	case 4:
		b := make([]byte, rng.IntN(5))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	case 5:
		return time.UnixMicro(rng.Int64N(1 << 50)).UTC()
	case 6:
		xs := make([]float64, rng.IntN(4))
		for i := range xs {
			xs[i] = rng.Float64()
		}
		return xs
	case 7:
		return rng.Int32()
	}
	return nil
}

// Rows of every value type go to a batch and back unchanged.
func TestRowsRoundTrip(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 3))
		cols := 1 + rng.IntN(8)
		kinds := make([]int, cols)
		for c := range kinds {
			kinds[c] = rng.IntN(8)
		}
		rows := make([]Row, rng.IntN(30))
		for i := range rows {
			rows[i] = Row{}
			for c, k := range kinds {
				rows[i][fmt.Sprintf("c%d", c)] = randomValue(rng, k)
			}
		}
		rec, err := rowsToBatch(rows, nil)
		if err != nil {
			t.Fatal(err)
		}
		back := batchToRows(rec)
		for i := range rows {
			for k, v := range rows[i] {
				got := back[i][k]
				if v == nil {
					if got != nil {
						t.Fatalf("seed %d row %d column %s: %v, want nil", seed, i, k, got)
					}
					continue
				}
				if !reflect.DeepEqual(got, v) {
					t.Fatalf("seed %d row %d column %s: %#v, want %#v", seed, i, k, got, v)
				}
			}
		}
		// And through the columns format.
		again, err := columnsToBatch(batchToColumns(rec), rec.Schema())
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) > 0 && !again.Schema().Equal(rec.Schema()) {
			t.Fatalf("seed %d: columns changed the schema %s to %s", seed, rec.Schema(), again.Schema())
		}
	}
}

type tagged struct {
	ID      int64     `data:"id"`
	Name    string    `json:"name,omitempty"`
	Score   *float64  `data:"score"`
	Skipped string    `data:"-"`
	When    time.Time `data:"when"`
	Vec     []float32 `data:"vec"`
	Plain   bool
	hidden  int
}

func TestStructRows(t *testing.T) {
	s := 2.5
	in := []tagged{
		{ID: 1, Name: "a", Score: &s, Skipped: "x", When: time.Unix(10, 0).UTC(), Vec: []float32{1, 2}, Plain: true, hidden: 3},
		{ID: 2, Name: "b", When: time.Unix(20, 0).UTC()},
	}
	var rows []Row
	for _, v := range in {
		r, err := toRow(v)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	rec, err := rowsToBatch(rows, structSchema(reflect.TypeFor[tagged]()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := columnNames(rec.Schema()), []string{"id", "name", "score", "when", "vec", "Plain"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("columns %v, want %v", got, want)
	}
	for i, r := range batchToRows(rec) {
		got, err := fromRow[tagged](r)
		if err != nil {
			t.Fatal(err)
		}
		want := in[i]
		want.Skipped, want.hidden = "", 0
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("row %d: %+v, want %+v", i, got, want)
		}
	}
	// Names match without regard to case; numbers convert.
	got, err := fromRow[tagged](Row{"ID": int32(7), "NAME": "n", "plain": true})
	if err != nil || got.ID != 7 || got.Name != "n" || !got.Plain {
		t.Fatalf("%+v, %v", got, err)
	}
	if _, err := fromRow[tagged](Row{"id": "not a number"}); err == nil {
		t.Fatal("a string into an int64 field")
	}
	if _, err := toRow(3); err == nil {
		t.Fatal("an int is a row")
	}
}
