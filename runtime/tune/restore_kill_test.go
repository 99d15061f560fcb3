package tune

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The experiment the killed driver runs and Restore finishes: 6 trials
// of the checkpointing pbtToy (30 iterations of 25 ms), 2 at a time.
func killSpace(marks string) Space {
	return Space{"h": GridSearch(0.2, 0.5, 0.8, 1.1, 1.4, 1.7), "max_iter": 30, "sleep_ms": 25, "dir": marks}
}

var killTune = TuneConfig{Metric: "v", Mode: "max", MaxConcurrentTrials: 2}

// driverEnv names the experiment's directory in the driver process (the
// test binary run again).
const driverEnv = "GORAY_TUNE_TEST_DRIVER"

// TestRestoreAfterDriverKilled runs an experiment in a driver process of
// its own (this test binary again, with its own embedded cluster), kills
// it with SIGKILL once two trials have ended and a running one has
// checkpointed, and finishes the experiment with Restore. What is on disk
// says what happened: the trials that had ended keep their directories
// (results and checkpoints) byte for byte and ran once; the ones running
// ran again from the checkpoint the state named, and every trial ends in
// the state of an uninterrupted run, its result.json one line per
// iteration.
func TestRestoreAfterDriverKilled(t *testing.T) {
	if dir := os.Getenv(driverEnv); dir != "" {
		// The driver: run until killed.
		_, err := Fit(context.Background(), pbtToy, killSpace(filepath.Join(dir, "marks")), killTune,
			RunConfig{StoragePath: dir, Name: "exp"})
		t.Fatalf("the driver was to be killed before its experiment ended (%v)", err)
	}
	root := t.TempDir()
	marks := filepath.Join(root, "marks")
	if err := os.Mkdir(marks, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreAfterDriverKilled$", "-test.v")
	// The killed driver cannot remove its embedded cluster's directory:
	// it goes under the test's.
	tmp := filepath.Join(root, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), driverEnv+"="+root, "TMPDIR="+tmp)
	out, err := os.Create(filepath.Join(root, "driver.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	path := filepath.Join(root, "exp")
	var state experiment
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("the driver never reached the point to kill it; its log:\n%s", log)
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("the driver exited by itself (%v); its log:\n%s", err, log)
		default:
		}
		b, err := os.ReadFile(filepath.Join(path, stateFile))
		if err == nil && json.Unmarshal(b, &state) == nil && killPoint(&state) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err == nil {
		t.Fatal("the driver exited cleanly after SIGKILL")
	}
	// What the state file says now is what Restore reads: the driver is
	// dead. (Its trial workers die with it.)
	b, err := os.ReadFile(filepath.Join(path, stateFile))
	if err != nil || json.Unmarshal(b, &state) != nil {
		t.Fatalf("the state after the kill: %v", err)
	}
	time.Sleep(200 * time.Millisecond) // any straggling worker is gone
	before := map[string]string{}
	ckAt := map[string]int{}
	for _, tr := range state.Trials {
		switch {
		case tr.Status == Terminated:
			before[tr.ID] = digestTree(t, filepath.Join(path, tr.ID))
		case tr.Checkpoint != nil:
			ckAt[tr.ID] = int(tr.Checkpoint.Metrics["training_iteration"])
		}
	}
	t.Logf("at the kill: %d trials ended, running ones at checkpoints %v", len(before), ckAt)
	if len(before) < 2 || len(before) == len(state.Trials) || len(ckAt) == 0 {
		t.Fatalf("killed at the wrong point: %d of %d trials ended, checkpoints of running ones %v", len(before), len(state.Trials), ckAt)
	}

	grid, err := Restore(context.Background(), path, pbtToy, killSpace(marks), killTune, RunConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range grid.Trials {
		if d, ok := before[tr.ID]; ok && digestTree(t, filepath.Join(path, tr.ID)) != d {
			t.Errorf("%s had ended before the kill, and its directory changed", tr.ID)
		}
		b, _ := os.ReadFile(filepath.Join(marks, tr.ID))
		starts := strings.Fields(string(b))
		want := "1"
		if at, ok := ckAt[tr.ID]; ok {
			want = fmt.Sprint("1 ", at+1)
		}
		// A trial that was running without a checkpoint, or had not
		// started, runs again from iteration 1.
		if _, ok := before[tr.ID]; !ok && ckAt[tr.ID] == 0 && len(starts) == 2 {
			want = "1 1"
		}
		if got := strings.Join(starts, " "); got != want {
			t.Errorf("%s's runs started at iterations %q, want %q", tr.ID, got, want)
		}
		h, v := tr.Config.Float("h"), 0.0
		for i := 1; i <= 30; i++ {
			target := 0.1 + 1.9*float64(i-1)/29
			v += 1 - (h-target)*(h-target)
		}
		if tr.Status != Terminated || len(tr.History) != 30 || math.Abs(tr.Metrics["v"]-v) > 1e-9 {
			t.Errorf("%s: %s, %d results, v %v (want 30, %v)", tr.ID, tr.Status, len(tr.History), tr.Metrics["v"], v)
		}
		lines, _ := os.ReadFile(filepath.Join(path, tr.ID, "result.json"))
		for i, line := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
			var r struct{ Metrics map[string]float64 }
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.Metrics["training_iteration"] != float64(i+1) {
				t.Fatalf("%s's result.json line %d: %s (%v)", tr.ID, i+1, line, err)
			}
		}
		if n := strings.Count(string(lines), "\n"); n != 30 {
			t.Errorf("%s's result.json has %d lines, want 30", tr.ID, n)
		}
	}
}

// killPoint: two trials ended and a running one has a checkpoint past its
// fifth iteration.
func killPoint(s *experiment) bool {
	ended, ck := 0, false
	for _, tr := range s.Trials {
		if tr.Status == Terminated {
			ended++
		}
		if tr.Status == Running && tr.Checkpoint != nil && tr.Checkpoint.Metrics["training_iteration"] >= 5 {
			ck = true
		}
	}
	return ended >= 2 && ck
}

// digestTree is a digest of every file's path, mode, time and content
// under dir.
func digestTree(t *testing.T, dir string) string {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d\n", p, info.Mode(), info.ModTime().UnixNano())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
