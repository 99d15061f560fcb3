package streaming

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Events writes n events, each flushed: a client reads each one before
// the next is written.
func TestEventsFlushEachEvent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(Events))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/?n=3&interval_ms=100")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	n := 0
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var i int
		var sent int64
		if _, err := fmt.Sscanf(data, "%d %d", &i, &sent); err != nil || i != n {
			t.Fatalf("event %q, want index %d (%v)", data, n, err)
		}
		if lag := time.Since(time.Unix(0, sent)); lag > 50*time.Millisecond {
			t.Errorf("event %d read %v after it was written: not flushed", i, lag)
		}
		n++
	}
	if n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
}

func TestUploadCountsAndChecksums(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(Upload))
	defer srv.Close()
	body := strings.Repeat("goray", 100_000)
	resp, err := http.Post(srv.URL, "application/octet-stream", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	want := fmt.Sprintf("{\"bytes\":%d,\"crc32\":\"%08x\"}\n", len(body), crc32.ChecksumIEEE([]byte(body)))
	if string(b) != want {
		t.Fatalf("%q, want %q", b, want)
	}
}

func TestParamBounds(t *testing.T) {
	for q, want := range map[string]int{"n=5": 5, "n=-1": 10, "n=x": 10, "": 10, "n=2000000": 10} {
		r := httptest.NewRequest(http.MethodGet, "/?"+q, nil)
		if got := param(r, "n", 10, 0, 1_000_000); got != want {
			t.Errorf("?%s: %d, want %d", q, got, want)
		}
	}
}
