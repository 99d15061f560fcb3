package taskevents

import (
	"testing"
	"time"
)

// Now follows the wall clock and never goes backwards between rebases.
func TestNowFollowsTheWallClock(t *testing.T) {
	prev := Now()
	for i := range 1000 {
		if i%100 == 0 {
			Rebase()
		}
		n := Now()
		wall := time.Now().UnixNano()
		if d := wall - n; d < -int64(time.Millisecond) || d > int64(time.Millisecond) {
			t.Fatalf("Now() is %v off the wall clock", time.Duration(d))
		}
		if n < prev-int64(time.Millisecond) {
			t.Fatalf("Now() went back %v", time.Duration(prev-n))
		}
		prev = n
	}
}
