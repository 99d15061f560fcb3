package batching

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Concurrent requests to the handler come back in batches of the
// configured size, each with its own answer.
func TestBatchedHandler(t *testing.T) {
	h := New(Config{MaxBatchSize: 4, BatchWaitTimeoutS: 30})
	defer h.Shutdown(t.Context())
	var wg sync.WaitGroup
	var mu sync.Mutex
	sizes := map[string]int{}
	for _, word := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(word)))
			mu.Lock()
			defer mu.Unlock()
			if rec.Code != 200 || rec.Body.String() != strings.ToUpper(word) {
				t.Errorf("%s: %d %q", word, rec.Code, rec.Body.String())
			}
			sizes[rec.Header().Get("X-Batch-Size")]++
		})
	}
	wg.Wait()
	if sizes["4"] != 8 {
		t.Fatalf("batch sizes seen %v, want every request in a batch of 4", sizes)
	}
}
