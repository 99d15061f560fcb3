// Package multiplexing is goray's example of model multiplexing (Ray
// Serve's @serve.multiplexed): the application "multiplexing" with one
// deployment, "Scorer", whose replicas each hold a few models out of many
// and load one when a request asks for a model they do not hold. Routers
// send a model's requests to the replicas that hold it, so a model is
// loaded once per replica that serves it, not on every replica. Deploy it
// with a serve config:
//
//	applications:
//	  - name: multiplexing
//	    route_prefix: /score
//	    import_path: multiplexing
//	    deployments:
//	      - name: Scorer
//	        num_replicas: 2
//	        user_config: {max_models_per_replica: 1, load_ms: 200}
//
// Ask with the model in the serve_multiplexed_model_id header:
//
//	curl -H 'serve_multiplexed_model_id: m1' 'localhost:8000/score?x=0.5'
//
// The answer (JSON) has the model's score of x, the replica that answered
// and how many times that replica has loaded the model.
package multiplexing

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/serve"
)

// Config is Scorer's user_config.
type Config struct {
	// MaxModelsPerReplica is Ray's max_num_models_per_replica.
	MaxModelsPerReplica int `json:"max_models_per_replica"`
	// LoadMs is how long loading a model takes (a stand-in for reading
	// weights from storage).
	LoadMs int `json:"load_ms"`
}

// Model is a tiny logistic model whose weights come from its id.
type Model struct {
	ID   string
	W, B float64
}

// Score is the model's probability for x.
func (m *Model) Score(x float64) float64 { return 1 / (1 + math.Exp(-(m.W*x + m.B))) }

// LoadModel makes model id's weights (deterministic: the same id, the same
// model on every replica).
func LoadModel(id string) *Model {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	v := h.Sum64()
	return &Model{ID: id, W: float64(v%1000)/250 - 2, B: float64(v/1000%1000)/500 - 1}
}

// Answer is what a request gets back.
type Answer struct {
	Model   string  `json:"model"`
	Score   float64 `json:"score"`
	Replica string  `json:"replica"`
	// Loads is how many times this replica has loaded the model.
	Loads int `json:"loads"`
}

// Handler scores with the model a request names.
type Handler struct {
	models  *serve.Models[*Model]
	replica string
	mu      sync.Mutex
	loads   map[string]int
}

// New makes the handler and its model cache (once per replica: the
// deployment builds it; tests call it directly).
func New(cfg Config) *Handler {
	h := &Handler{loads: map[string]int{}}
	if rc, ok := serve.GetReplicaContext(); ok {
		h.replica = rc.ReplicaID
	}
	delay := time.Duration(cfg.LoadMs) * time.Millisecond
	h.models = serve.Multiplexed(cfg.MaxModelsPerReplica, func(ctx context.Context, id string) (*Model, error) {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		h.mu.Lock()
		h.loads[id]++
		h.mu.Unlock()
		return LoadModel(id), nil
	})
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x, err := strconv.ParseFloat(r.URL.Query().Get("x"), 64)
	if err != nil {
		http.Error(w, "x: a number, e.g. ?x=0.5", http.StatusBadRequest)
		return
	}
	id := serve.MultiplexedModelID(r)
	if id == "" {
		http.Error(w, "name the model in the "+serve.ModelIDHeader+" header", http.StatusBadRequest)
		return
	}
	m, err := h.models.Get(r.Context(), id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	h.mu.Lock()
	a := Answer{Model: id, Score: m.Score(x), Replica: h.replica, Loads: h.loads[id]}
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(a)
}

// Scorer is the deployment.
var Scorer = serve.Deployment("Scorer", func(ctx context.Context, cfg Config) (http.Handler, error) {
	return New(cfg), nil
}, serve.NumReplicas(2))

// App is the application "multiplexing".
var App = serve.Application("multiplexing", Scorer)
