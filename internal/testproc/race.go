package testproc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RaceBuildFlags are the `go build` flags for the binaries a test starts:
// -race when the test itself runs under the race detector, so that the
// runtime's own processes (nodes, heads, workers) are checked as well.
func RaceBuildFlags() []string {
	if raceEnabled {
		return []string{"-race"}
	}
	return nil
}

// CollectRaces makes the race-built processes the test starts write their
// reports into dir (they inherit the environment; a race in a child does
// not fail the test by itself: RaceReports reads them afterwards). The
// test's own process is not affected: the detector reads GORACE at start.
func CollectRaces(dir string) {
	_ = os.Setenv("GORACE", "log_path="+filepath.Join(dir, "race"))
}

// RaceReports returns an error quoting every race report that children
// wrote into dir, nil when there is none.
func RaceReports(dir string) error {
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
