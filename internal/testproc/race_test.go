package testproc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRaceReports(t *testing.T) {
	dir := t.TempDir()
	if err := raceReports(dir); err != nil {
		t.Fatalf("no reports yet: %v", err)
	}
	// What the race runtime writes with GORACE=log_path=<dir>/race: one
	// file per process, named by its pid; an empty one is no report.
	if err := os.WriteFile(filepath.Join(dir, "race.41"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "race.42"), []byte("WARNING: DATA RACE\nWrite at 0x00c000029050 by goroutine 280:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := raceReports(dir)
	if err == nil || !strings.Contains(err.Error(), "race.42") || !strings.Contains(err.Error(), "WARNING: DATA RACE") || strings.Contains(err.Error(), "race.41") {
		t.Fatalf("RaceReports = %v, want the report of race.42 only", err)
	}
}

func TestCollectRaces(t *testing.T) {
	t.Setenv("GORACE", "")
	dir := t.TempDir()
	CollectRaces(dir)
	if got, want := os.Getenv("GORACE"), "log_path="+filepath.Join(dir, "race"); got != want {
		t.Fatalf("GORACE = %q, want %q", got, want)
	}
}
