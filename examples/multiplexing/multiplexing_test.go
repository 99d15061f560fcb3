package multiplexing

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A replica's handler: each request scored by the model it names, a model
// loaded once while held, reloaded after its eviction (one model held).
func TestHandlerLoadsWhatRequestsName(t *testing.T) {
	h := New(Config{MaxModelsPerReplica: 1})
	ask := func(model string) Answer {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/?x=0.5", nil)
		req.Header.Set("serve_multiplexed_model_id", model)
		h.ServeHTTP(rec, req)
		var a Answer
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
			t.Fatalf("%s: %d %s", model, rec.Code, rec.Body.String())
		}
		return a
	}
	for range 3 {
		if a := ask("m1"); a.Loads != 1 || a.Score != LoadModel("m1").Score(0.5) {
			t.Fatalf("m1: %+v", a)
		}
	}
	ask("m2") // evicts m1
	if a := ask("m1"); a.Loads != 2 {
		t.Fatalf("m1 after its eviction: %+v, want a second load", a)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?x=1", nil))
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("no model id: %d", rec.Code)
	}
}
