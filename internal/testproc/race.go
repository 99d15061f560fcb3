package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GoBuild is `go build -o out pkgs...` for the binaries a test starts, with
// -race when the test itself runs under the race detector, so that the
// runtime's own processes (nodes, heads, workers) are checked as well.
func GoBuild(out string, pkgs ...string) *exec.Cmd {
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	return exec.Command("go", append(append(args, "-o", out), pkgs...)...)
}

// CollectRaces makes the race-built processes the test starts write their
// reports into dir (they inherit the environment; a race in a child does
// not fail the test by itself: RunCheckingRaces reads them afterwards). The
// test's own process is not affected: the detector reads GORACE at start.
func CollectRaces(dir string) {
	_ = os.Setenv("GORACE", "log_path="+filepath.Join(dir, "race"))
}

// RunCheckingRaces runs the tests, then fails the run (exit code 1) when a
// child process wrote a race report into dir, printing the reports.
func RunCheckingRaces(m *testing.M, dir string) int {
	code := m.Run()
	if err := raceReports(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	return code
}

// raceReports returns an error quoting every race report that children
// wrote into dir, nil when there is none.
func raceReports(dir string) error {
	files, _ := filepath.Glob(filepath.Join(dir, "race.*"))
	var reports []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil || len(b) == 0 {
			continue
		}
		reports = append(reports, fmt.Sprintf("%s:\n%s", filepath.Base(f), b))
	}
	if len(reports) == 0 {
		return nil
	}
	return fmt.Errorf("%d child process(es) reported data races:\n%s", len(reports), strings.Join(reports, "\n"))
}
