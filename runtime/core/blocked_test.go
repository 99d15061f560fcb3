package core

import (
	"sync"
	"testing"
	"time"
)

func TestBlockDecision(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := 2 * time.Millisecond
	for _, c := range []struct {
		name          string
		waits         int
		since         time.Duration // before now
		told          bool
		tell, blocked bool
		recheck       time.Duration
	}{
		{"no waits, nothing told", 0, 0, false, false, false, 0},
		{"a wait just begun: check again at the grace's end", 1, 0, false, false, false, g},
		{"half the grace gone", 2, g / 2, false, false, false, g / 2},
		{"a wait past the grace: blocked", 1, g, false, true, true, 0},
		{"still waiting, already told", 3, time.Second, true, false, false, 0},
		{"the waits are over: unblocked", 0, time.Second, true, true, false, 0},
	} {
		tell, blocked, recheck := blockDecision(c.waits, t0.Add(-c.since), t0, c.told, g)
		if tell != c.tell || blocked != c.blocked || recheck != c.recheck {
			t.Errorf("%s: got tell=%v blocked=%v recheck=%v, want %v %v %v", c.name, tell, blocked, recheck, c.tell, c.blocked, c.recheck)
		}
	}
}

// fakeBlocks is a notifier on a hand-moved clock whose timers fire when
// the test says and whose sender records what it was told.
type fakeBlocks struct {
	b      *blockNotifier
	mu     sync.Mutex
	now    time.Time
	timers []func()
	told   chan bool
}

func newFakeBlocks() *fakeBlocks {
	f := &fakeBlocks{now: time.Unix(1000, 0), told: make(chan bool, 16)}
	f.b = newBlockNotifier(func(blocked bool) { f.told <- blocked })
	f.b.now = func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
	f.b.after = func(d time.Duration, fn func()) { f.mu.Lock(); f.timers = append(f.timers, fn); f.mu.Unlock() }
	return f
}

// advance moves the clock and fires the timers due.
func (f *fakeBlocks) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	ts := f.timers
	f.timers = nil
	f.mu.Unlock()
	for _, fn := range ts {
		fn()
	}
}

func (f *fakeBlocks) expect(t *testing.T, want ...bool) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-f.told:
			if got != w {
				t.Fatalf("the node was told blocked=%v, want %v", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the node was not told blocked=%v", w)
		}
	}
}

func (f *fakeBlocks) expectNothing(t *testing.T) {
	t.Helper()
	select {
	case got := <-f.told:
		t.Fatalf("the node was told blocked=%v", got)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestBlockNotifier(t *testing.T) {
	f := newFakeBlocks()
	// A short wait tells the node nothing.
	end := f.b.begin()
	f.advance(time.Millisecond)
	end()
	f.advance(5 * time.Millisecond)
	f.expectNothing(t)

	// A long wait: blocked once its grace is over; two more waits and
	// the first's end change nothing; the last end: unblocked.
	end1 := f.b.begin()
	f.advance(blockGrace)
	f.expect(t, true)
	end2, end3 := f.b.begin(), f.b.begin()
	end1()
	end1() // ending twice counts once
	f.expectNothing(t)
	end2()
	end3()
	f.expect(t, false)

	// A wait that begins and ends while the node is being told: it is
	// told in order, and ends told unblocked.
	release := make(chan struct{})
	f.b.tell = func(blocked bool) { f.told <- blocked; <-release }
	end4 := f.b.begin()
	f.advance(blockGrace)
	f.expect(t, true) // the sender is now held
	end4()
	end5 := f.b.begin()
	end5()
	close(release)
	f.expect(t, false)
	f.expectNothing(t)
}
