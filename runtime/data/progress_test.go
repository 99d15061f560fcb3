package data

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressLines(t *testing.T) {
	s := newExecStats()
	read := s.op("ReadRange->Map(f)")
	read.setTotalTasks(4)
	for range 3 {
		read.taskStarted()
		read.block(blockMeta{Rows: 100})
		read.taskDone()
	}
	lim := s.op("Limit(10)")
	lim.block(blockMeta{Rows: 10})
	lim.finish()
	lines := progressLines(s, read.start.Add(2*time.Second))
	if len(lines) != 2 {
		t.Fatalf("lines %q", lines)
	}
	for i, want := range [][]string{
		{"ReadRange->Map(f)", "3/4 tasks", "300 rows", "150 rows/s", "running"},
		{"Limit(10)", "0 tasks", "10 rows", "done"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Fatalf("line %q lacks %q", lines[i], w)
			}
		}
	}

	// Redraws go back over the lines drawn before.
	var buf bytes.Buffer
	p := &progress{w: &buf, stats: s}
	p.draw()
	p.draw()
	if got := strings.Count(buf.String(), "\x1b[2A"); got != 1 {
		t.Fatalf("the second draw moved up %d times:\n%q", got, buf.String())
	}
}

func TestProgressOnlyOnTerminal(t *testing.T) {
	off := DefaultExecutionOptions()
	off.NoProgress = true
	for _, c := range []struct {
		opts     ExecutionOptions
		terminal bool
		want     bool
	}{
		{DefaultExecutionOptions(), true, true},
		{DefaultExecutionOptions(), false, false},
		{off, true, false},
	} {
		if got := progressOn(c.opts, c.terminal); got != c.want {
			t.Fatalf("progressOn(NoProgress=%v, terminal=%v) = %v", c.opts.NoProgress, c.terminal, got)
		}
	}
}
