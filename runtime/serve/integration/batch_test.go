package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const batchingConfig = `
applications:
  - name: batching
    route_prefix: /batch
    import_path: batching
    deployments:
      - name: Batched
        max_ongoing_requests: 64
        user_config: {max_batch_size: 8, batch_wait_timeout_s: 10}
`

// Issue 22's batching acceptance: 64 concurrent requests through the proxy
// reach the batched handler (examples/batching) in batches of the
// configured 8 — the handler reports the size of the batch each request was
// in — and each gets its own answer.
func TestBatchingThroughTheProxy(t *testing.T) {
	deploy(t, batchingConfig)
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "batching RUNNING", appRunning("batching"))
	client := &http.Client{Timeout: 60 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	sizes := map[string]int{}
	for i := range 64 {
		wg.Go(func() {
			word := fmt.Sprintf("word%d", i)
			resp, err := client.Post(proxyURL(workerIP, "/batch"), "text/plain", strings.NewReader(word))
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode != http.StatusOK || string(body) != strings.ToUpper(word) {
				t.Errorf("request %d: %d %q", i, resp.StatusCode, body)
			}
			sizes[resp.Header.Get("X-Batch-Size")]++
		})
	}
	wg.Wait()
	if sizes["8"] != 64 {
		t.Fatalf("batch sizes the requests were in: %v, want all 64 in batches of 8", sizes)
	}
}
