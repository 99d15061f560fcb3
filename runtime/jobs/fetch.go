package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// A runtime_env's working_dir is either a package this head stores
// (gcs://_goray_pkg_<sha256>.zip, what `goray job submit --working-dir`
// uploads) or, as in Ray, a remote zip: KubeRay's samples name GitHub
// archives (https://github.com/<org>/<repo>/archive/<ref>.zip). goray
// fetches http(s) URIs itself; Ray's other remote schemes need a cloud SDK
// and the pod's cloud credentials, which a goray head does not carry.

// remoteSchemes are the working_dir URI schemes Ray reads through a cloud
// SDK, with what Ray reads them with (for the message that says goray does not).
var remoteSchemes = map[string]string{
	"s3":    "Amazon S3",
	"gs":    "Google Cloud Storage",
	"abfss": "Azure Blob Storage",
	"az":    "Azure Blob Storage",
	"file":  "a file on every node",
}

// remoteZipURL checks a working_dir URI fetched over the network: http or
// https with a host, its path a .zip (Ray's rule for remote working_dirs).
// It reports ok=false, and no error, for URIs that are not remote: the
// head's own gcs:// packages and anything parsePackageURI explains.
func remoteZipURL(uri string) (u *url.URL, ok bool, err error) {
	scheme, _, found := strings.Cut(uri, "://")
	if !found {
		return nil, false, nil
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
	case "gcs":
		return nil, false, nil
	default:
		what, known := remoteSchemes[strings.ToLower(scheme)]
		if !known {
			return nil, true, fmt.Errorf("unsupported working_dir URI scheme %q: goray fetches https:// (and http://) zip URIs and its own gcs:// packages", scheme)
		}
		return nil, true, fmt.Errorf("goray cannot fetch %s:// URIs (%s): serve the zip over https (a presigned or public URL) or upload "+
			"the directory with `goray job submit --working-dir`", scheme, what)
	}
	u, err = url.Parse(uri)
	if err != nil {
		return nil, true, fmt.Errorf("working_dir %s is not a URL: %w", api.Clip(uri, logClip), unwrapURLError(err))
	}
	if u.Host == "" {
		return nil, true, fmt.Errorf("working_dir %s has no host", redactURL(u))
	}
	if !strings.HasSuffix(u.Path, ".zip") {
		return nil, true, fmt.Errorf("working_dir %s is not a .zip: a remote working_dir must be a zip file (for GitHub, "+
			"https://github.com/<org>/<repo>/archive/<ref>.zip)", redactURL(u))
	}
	return u, true, nil
}

// redactURL is a URL for messages and logs: no password and no query (a
// presigned URL's query is its credential). The job's own runtime_env still
// shows the whole URI to whoever may read the job.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	q := c.RawQuery != ""
	c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = "", false, "", ""
	s := c.String()
	if q {
		s += "?…"
	}
	return s
}

// unwrapURLError drops the URL net/http puts in its errors: it would carry
// the query redactURL leaves out.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// fetchTimeout bounds a whole download: 500 MiB at under 1 MiB/s is a
// stalled or hostile server, and the job waits PENDING meanwhile.
const fetchTimeout = 10 * time.Minute

// maxRedirects is as many as net/http follows by default.
const maxRedirects = 10

// remoteFetcher downloads remote working_dir zips.
type remoteFetcher struct {
	client   *http.Client
	maxBytes int64
	timeout  time.Duration
	// progressEvery is the least time between two progress lines.
	progressEvery time.Duration
}

func newRemoteFetcher() *remoteFetcher {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	return &remoteFetcher{
		client:        &http.Client{Transport: tr, CheckRedirect: checkRedirect},
		maxBytes:      api.MaxPackageBytes,
		timeout:       fetchTimeout,
		progressEvery: 2 * time.Second,
	}
}

// checkRedirect follows a redirect only to http(s), never from https down
// to http (the archive would travel unauthenticated), and at most
// maxRedirects times. GitHub's archive links redirect once, https to https.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	switch req.URL.Scheme {
	case "https":
	case "http":
		if via[len(via)-1].URL.Scheme == "https" {
			return fmt.Errorf("refused a redirect from https to http (%s)", redactURL(req.URL))
		}
	default:
		return fmt.Errorf("refused a redirect to the %q scheme: working_dir is fetched over http(s) only", req.URL.Scheme)
	}
	return nil
}

// errRemoteTooLarge is a remote zip over the package limit.
var errRemoteTooLarge = fmt.Errorf("the zip is larger than the limit of %d bytes (%s) a working_dir package may be", api.MaxPackageBytes, mib(api.MaxPackageBytes))

// fetch downloads u into dst (streamed, never whole in memory), writing
// progress lines to progress. It returns the bytes written.
func (f *remoteFetcher) fetch(ctx context.Context, u *url.URL, dst io.Writer, progress io.Writer) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, unwrapURLError(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return 0, fmt.Errorf("no answer within %v", f.timeout)
		}
		return 0, unwrapURLError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("the server answered %s", resp.Status)
	}
	if resp.ContentLength > f.maxBytes {
		return 0, fmt.Errorf("%w: the server announced %d bytes", errRemoteTooLarge, resp.ContentLength)
	}
	pw := &progressWriter{out: progress, total: resp.ContentLength, every: f.progressEvery, start: time.Now(), last: time.Now()}
	n, err := io.Copy(io.MultiWriter(dst, pw), io.LimitReader(resp.Body, f.maxBytes+1))
	switch {
	case n > f.maxBytes:
		return n, errRemoteTooLarge
	case err != nil && ctx.Err() == context.DeadlineExceeded:
		return n, fmt.Errorf("the download did not finish within %v (%s received)", f.timeout, mib(n))
	case resp.ContentLength >= 0 && n != resp.ContentLength && (err == nil || errors.Is(err, io.ErrUnexpectedEOF)):
		return n, fmt.Errorf("the download ended after %d of %d bytes", n, resp.ContentLength)
	case err != nil:
		return n, fmt.Errorf("the download broke off after %s: %w", mib(n), unwrapURLError(err))
	}
	pw.done()
	return n, nil
}

// progressWriter counts a download and writes a line about it at most
// every `every` and when it is done.
type progressWriter struct {
	out         io.Writer
	total, n    int64
	every       time.Duration
	start, last time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= p.every {
		p.last = now
		if p.total > 0 {
			fmt.Fprintf(p.out, "goray: working_dir: downloaded %s of %s\n", mib(p.n), mib(p.total))
		} else {
			fmt.Fprintf(p.out, "goray: working_dir: downloaded %s\n", mib(p.n))
		}
	}
	return len(b), nil
}

func (p *progressWriter) done() {
	fmt.Fprintf(p.out, "goray: working_dir: downloaded %s in %v\n", mib(p.n), time.Since(p.start).Round(time.Millisecond))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// fetchRemote makes dir the unpacked remote zip u (its one top-level
// directory stripped, as Ray unpacks remote working_dirs), from this node's
// cache of remote zips when an earlier job fetched the same URI.
func (m *Manager) fetchRemote(ctx context.Context, u *url.URL, dir string, progress io.Writer) error {
	shown := redactURL(u)
	return m.remote.use(ctx, u.String(), func(dst *os.File) error {
		fmt.Fprintf(progress, "goray: working_dir: fetching %s\n", shown)
		if _, err := m.fetcher.fetch(ctx, u, dst, progress); err != nil {
			return fmt.Errorf("fetching %s: %w", shown, err)
		}
		if err := dst.Sync(); err != nil {
			return err
		}
		if err := checkZip(dst.Name()); err != nil {
			return fmt.Errorf("%s is not a zip file: %w", shown, err)
		}
		return nil
	}, func(zipPath string, cached bool) error {
		if cached {
			fmt.Fprintf(progress, "goray: working_dir: using %s, fetched earlier on this node\n", shown)
		}
		if err := unpackInto(zipPath, dir, true); err != nil {
			return fmt.Errorf("unpacking %s: %w", shown, err)
		}
		fmt.Fprintf(progress, "goray: working_dir: unpacked %s\n", shown)
		return nil
	})
}

// prepareWorkingDir unpacks a job's working_dir into dir: a package from
// the head's store, or a remote zip fetched over http(s), with what the
// fetch does written to the job's log (where `goray job logs` shows it
// before the entrypoint's output). Stopping the job cancels the download.
func (m *Manager) prepareWorkingDir(r *run, uri, dir string) error {
	u, remote, err := remoteZipURL(uri)
	if err != nil {
		return err
	}
	if !remote {
		return m.fetchPackage(context.Background(), uri, dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	logFile, err := os.OpenFile(m.LogPath(r.id), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open the log file: %w", err)
	}
	defer logFile.Close()
	if err := m.fetchRemote(ctx, u, dir, logFile); err != nil {
		fmt.Fprintf(logFile, "goray: working_dir: %v\n", err)
		return err
	}
	return nil
}
