package browser

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var (
	chromiumOnce sync.Once
	chromium     string
	chromiumErr  error
)

// chromiumPath is Debian's Chromium, installed by hack/chromium.sh when
// missing. Without it the test is skipped, saying why, unless
// GORAY_REQUIRE_CHROMIUM is set (make test sets it), when it fails.
func chromiumPath(t *testing.T) string {
	t.Helper()
	chromiumOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			chromiumErr = err
			return
		}
		cmd := exec.Command(filepath.Join(root, "hack", "chromium.sh"))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			chromiumErr = errors.New("hack/chromium.sh: " + err.Error() + "\n" + stderr.String())
			return
		}
		chromium = strings.TrimSpace(string(out))
	})
	if chromiumErr != nil {
		if os.Getenv("GORAY_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("no chromium: %v", chromiumErr)
		}
		t.Skipf("skipped: no chromium and it could not be installed (%v); run hack/chromium.sh as root", chromiumErr)
	}
	return chromium
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// artifactsDir is where screenshots go: $GORAY_TEST_ARTIFACTS/dashboard,
// else a new temporary directory. It is kept after the test, and logged.
func artifactsDir(t *testing.T) string {
	t.Helper()
	var dir string
	if root := os.Getenv("GORAY_TEST_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, "dashboard")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		d, err := os.MkdirTemp("", "goray-dashboard-screenshots-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	t.Logf("screenshots and the browser's log go to %s", dir)
	return dir
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context // the tab's: actions take their timeouts from contexts derived from it
	dir string
}

func newBrowser(t *testing.T, path string) *browser {
	t.Helper()
	dir := artifactsDir(t)
	logf, err := os.Create(filepath.Join(dir, "chromium.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logf.Close() })
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
		chromedp.DisableGPU,
		chromedp.CombinedOutput(logf))
	if os.Geteuid() == 0 {
		// Chromium refuses to start its sandbox as root (its zygote exits
		// with "Running as root without --no-sandbox is not supported"),
		// and CI containers run tests as root. The only page it loads is
		// the dashboard this test serves on 127.0.0.1.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first action starts the browser; it runs on the tab's context
	// itself (a timeout there would end the browser with it), bounded by
	// a watchdog instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("start chromium %s: %v", path, err)
		}
	case <-time.After(60 * time.Second):
		cancelTab()
		t.Fatalf("chromium %s did not start in 60 s (its log: %s)", path, logf.Name())
	}
	return &browser{t: t, ctx: ctx, dir: dir}
}

// do runs actions within timeout; on failure it keeps a screenshot of the
// page and fails the test with what the page says.
func (b *browser) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

// waitFor polls a JavaScript expression until it is true, for at most timeout.
func (b *browser) waitFor(what, expr string, timeout time.Duration) {
	b.t.Helper()
	b.do(what, timeout+5*time.Second, chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(200*time.Millisecond), chromedp.WithPollingTimeout(timeout))(ctx, tg)
		return chromedp.Void{}, err
	}))
}

// eval evaluates a JavaScript expression to a string.
func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`String(`+expr+`)`))
	if err != nil {
		b.fail("evaluate "+expr, err)
	}
	return v
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	b.screenshot("failed")
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	b.t.Fatalf("%s: %v\nthe page says:\n%s", what, err, text)
}

// screenshot keeps the whole page as <name>.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot: %s", p)
}
