package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/goray-dev/goray/examples/multiplexing"
)

const multiplexingConfig = `
applications:
  - name: multiplexing
    route_prefix: /score
    import_path: multiplexing
    deployments:
      - name: Scorer
        num_replicas: 2
        user_config: {max_models_per_replica: 1, load_ms: 100}
`

// Issue 22's multiplexing acceptance: requests for models m1 and m2,
// through the proxy, land on replicas that hold them — each replica holds
// one model at most, so a request routed to the other replica would evict
// and reload — and each replica loads each model once.
func TestMultiplexedModelsThroughTheProxy(t *testing.T) {
	deploy(t, multiplexingConfig)
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "multiplexing RUNNING", appRunning("multiplexing"))
	client := &http.Client{Timeout: 60 * time.Second}
	ask := func(model string) (multiplexing.Answer, error) {
		req, err := http.NewRequest(http.MethodGet, proxyURL(workerIP, "/score?x=0.25"), nil)
		if err != nil {
			return multiplexing.Answer{}, err
		}
		req.Header.Set("serve_multiplexed_model_id", model)
		resp, err := client.Do(req)
		if err != nil {
			return multiplexing.Answer{}, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var a multiplexing.Answer
		if resp.StatusCode != http.StatusOK {
			return a, fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		return a, json.Unmarshal(b, &a)
	}
	var mu sync.Mutex
	where := map[string]map[string]bool{} // model -> replicas that answered for it
	check := func(model string, a multiplexing.Answer, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			t.Errorf("%s: %v", model, err)
			return
		}
		if a.Model != model || a.Score != multiplexing.LoadModel(model).Score(0.25) || a.Replica == "" {
			t.Errorf("%s: answered %+v", model, a)
		}
		if a.Loads != 1 {
			t.Errorf("%s: replica %s has loaded it %d times (a request went to a replica without it)", model, a.Replica, a.Loads)
		}
		if where[model] == nil {
			where[model] = map[string]bool{}
		}
		where[model][a.Replica] = true
	}
	// One at a time, alternating; then a few at once per model (within a
	// replica's max_ongoing_requests, so none has to wait for room).
	for i := range 20 {
		model := []string{"m1", "m2"}[i%2]
		a, err := ask(model)
		check(model, a, err)
	}
	var wg sync.WaitGroup
	for i := range 40 {
		model := []string{"m1", "m2"}[i%2]
		wg.Go(func() {
			a, err := ask(model)
			check(model, a, err)
		})
		if i%8 == 7 {
			wg.Wait()
		}
	}
	wg.Wait()
	if len(where["m1"]) != 1 || len(where["m2"]) != 1 {
		t.Fatalf("replicas per model: %v, want one each", where)
	}
	for r := range where["m1"] {
		if where["m2"][r] {
			t.Fatalf("m1 and m2 on the same replica %s, which holds one model", r)
		}
	}
}
