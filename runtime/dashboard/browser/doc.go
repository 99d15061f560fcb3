// Package browser holds the dashboard's browser test: a real headless
// Chromium (Debian's package, installed by hack/chromium.sh) driven over the
// DevTools protocol (chromedp) against a real head and two nodes started as
// `goray start` processes on 127.0.0.1/2/3 with token auth on. It logs in
// through the page's form, checks what each page shows against what runs,
// follows a job's log as the job prints it, and keeps a screenshot of each
// page (PNG files under $GORAY_TEST_ARTIFACTS/dashboard, else a temporary
// directory that the test logs).
package browser
