package data

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Progress: while a dataset runs in a program whose standard output is a
// terminal, a line per operator shows its tasks done (of how many, when
// known), the rows it has passed on and their rate, redrawn in place a few
// times a second, as Ray Data's progress bars. Off a terminal (a log, a
// pipe, a test) nothing is printed.

// progressInterval is how often the lines are redrawn.
const progressInterval = 200 * time.Millisecond

// progressEnabled reports whether stdout is a terminal that progress may
// draw on.
func progressEnabled(opts ExecutionOptions) bool {
	return progressOn(opts, term.IsTerminal(int(os.Stdout.Fd())))
}

func progressOn(opts ExecutionOptions, terminal bool) bool { return terminal && !opts.NoProgress }

type progress struct {
	w     io.Writer
	stats *execStats
	stop  chan struct{}
	done  sync.WaitGroup
	drawn int // lines drawn last time
}

// startProgress draws stats' operators on w until stop.
func startProgress(w io.Writer, stats *execStats) *progress {
	p := &progress{w: w, stats: stats, stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				p.draw()
			case <-p.stop:
				p.draw()
				return
			}
		}
	}()
	return p
}

// finish draws the final state and stops.
func (p *progress) finish() {
	close(p.stop)
	p.done.Wait()
}

func (p *progress) draw() {
	lines := progressLines(p.stats, time.Now())
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn) // back to the first line
	}
	for _, l := range lines {
		b.WriteString("\x1b[2K") // clear the line
		b.WriteString(l)
		b.WriteString("\n")
	}
	p.drawn = len(lines)
	_, _ = io.WriteString(p.w, b.String())
}

// progressLines is a line per operator: name, tasks done/total, rows and
// rows per second.
func progressLines(s *execStats, now time.Time) []string {
	s.mu.Lock()
	ops := append([]*opStats(nil), s.ops...)
	s.mu.Unlock()
	lines := make([]string, 0, len(ops))
	for _, o := range ops {
		o.mu.Lock()
		tasks := fmt.Sprint(o.tasksDone)
		if o.totalTasks > 0 {
			tasks = fmt.Sprintf("%d/%d", o.tasksDone, o.totalTasks)
		}
		end := o.end
		if end.IsZero() {
			end = now
		}
		rate := 0.0
		if d := end.Sub(o.start).Seconds(); d > 0 {
			rate = float64(o.rows.sum) / d
		}
		state := "running"
		if !o.end.IsZero() {
			state = "done"
		}
		name := o.name
		if len(name) > 48 {
			name = name[:45] + "..."
		}
		lines = append(lines, fmt.Sprintf("%-48s %s tasks, %d rows, %.0f rows/s, %s", name, tasks, o.rows.sum, rate, state))
		o.mu.Unlock()
	}
	return lines
}
