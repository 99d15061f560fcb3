package bench

import "testing"

func TestQuartiles(t *testing.T) {
	q1, m, q3 := quartiles([]float64{5, 1, 4, 2, 3})
	if q1 != 2 || m != 3 || q3 != 4 {
		t.Fatalf("quartiles of 1..5: %v %v %v", q1, m, q3)
	}
	if _, m, _ := quartiles([]float64{1, 2}); m != 1.5 {
		t.Fatalf("median of 1, 2: %v", m)
	}
	if q1, m, q3 := quartiles(nil); q1 != 0 || m != 0 || q3 != 0 {
		t.Fatal("quartiles of nothing")
	}
}
