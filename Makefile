# goray — the operator and the runtime.
#
# Tools are pinned and installed into bin/; the Kubernetes control plane that
# the controller tests run against is built once into a cache outside the
# clone ($(GORAY_CACHE)) and reused by every later clone on the machine.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
GORAY_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/goray
K8S_VERSION ?= v1.37.2
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
# The protobuf compiler is buf (a protoc-compatible compiler in Go, built from
# the Go module proxy), so generating and checking runtime/proto needs no protoc.
BUF_VERSION ?= v1.75.0
PROTOC_GEN_GO_VERSION ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.5.1

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
BUF ?= $(LOCALBIN)/buf-$(BUF_VERSION)
PROTOC_GEN_GO ?= $(LOCALBIN)/protoc-gen-go-$(PROTOC_GEN_GO_VERSION)
PROTOC_GEN_GO_GRPC ?= $(LOCALBIN)/protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)
KUBEBUILDER_ASSETS ?= $(GORAY_CACHE)/k8s/$(K8S_VERSION)

# -race: the runtime is concurrent through and through; the detector has found
# what no assertion did (a heartbeat marshalling counters that leases changed).
# In-process drivers, GCS and nodes run under it; about a minute more, warm.
GO_TEST_FLAGS ?= -count=1 -race
export KUBEBUILDER_ASSETS

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) proto-tools ## Generate deepcopy code and protobuf stubs.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	BUF=$(BUF) PROTOC_GEN_GO=$(PROTOC_GEN_GO) PROTOC_GEN_GO_GRPC=$(PROTOC_GEN_GO_GRPC) hack/gen-proto.sh

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRDs and the operator's RBAC Role.
	$(CONTROLLER_GEN) crd:generateEmbeddedObjectMeta=true,allowDangerousTypes=true,maxDescLen=0 paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=goray-operator paths=./controllers/... output:rbac:artifacts:config=config/rbac
	hack/sync-charts.sh

.PHONY: fmt
fmt: ## gofmt every Go file.
	gofmt -w $$(git ls-files '*.go')

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint with .golangci.yml.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: ## Fail when generated files are stale or Go files are not gofmt-ed.
	hack/verify-generated.sh
	hack/sync-charts.sh --check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt-ed (run 'make fmt'):"; echo "$$out"; exit 1; fi

##@ Build

.PHONY: build
build: ## Build goray, goray-operator and goray-examples into bin/.
	CGO_ENABLED=0 go build -o $(LOCALBIN)/ ./cmd/...

##@ Test

.PHONY: control-plane
control-plane: ## Build (or reuse) etcd and kube-apiserver for the envtest tier.
	hack/control-plane.sh etcd kube-apiserver

.PHONY: test
test: control-plane redis chromium verify ## Unit, runtime integration and envtest controller tests.
	go vet ./...
	GORAY_REQUIRE_REDIS=1 GORAY_REQUIRE_CHROMIUM=1 go test $(GO_TEST_FLAGS) ./...

.PHONY: redis
redis: ## Install Debian's redis-server if missing (the GCS storage tests start their own).
	hack/redis.sh >/dev/null

.PHONY: chromium
chromium: ## Install Debian's chromium if missing (the dashboard's browser test drives it headless).
	hack/chromium.sh >/dev/null

.PHONY: test-short
test-short: ## Unit tests only (no control plane, no runtime processes).
	go test -short $(GO_TEST_FLAGS) ./...

# Each fuzz target runs for FUZZTIME; CI runs them for 5s each.
FUZZTIME ?= 60s

.PHONY: fuzz
fuzz: ## Run every Go fuzz target (func FuzzX(f *testing.F), found in the tree) for FUZZTIME each (60s); FUZZ=regexp picks some.
	FUZZTIME=$(FUZZTIME) hack/fuzz.sh

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

$(CONTROLLER_GEN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

$(GOLANGCI_LINT): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $(GOLANGCI_LINT)

.PHONY: proto-tools
proto-tools: $(BUF) $(PROTOC_GEN_GO) $(PROTOC_GEN_GO_GRPC) ## Build the pinned buf, protoc-gen-go and protoc-gen-go-grpc into bin/ (no protoc needed).

# buf takes ~2.5 min to build on 2 cores the first time; Go's build cache makes
# a rebuild in a later clone about 10 s.
$(BUF): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	mv $(LOCALBIN)/buf $(BUF)

$(PROTOC_GEN_GO): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	mv $(LOCALBIN)/protoc-gen-go $(PROTOC_GEN_GO)

$(PROTOC_GEN_GO_GRPC): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	mv $(LOCALBIN)/protoc-gen-go-grpc $(PROTOC_GEN_GO_GRPC)

##@ Test cluster (a real single-node Kubernetes in the netns goray-e2e)

.PHONY: cluster-up
cluster-up: ## Build (cached) and start the test cluster; `source ~/.cache/goray/cluster/env` for kubectl.
	hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the test cluster and leave the host clean.
	hack/cluster/down.sh

.PHONY: cluster-status
cluster-status: ## Say what of the test cluster runs.
	hack/cluster/status.sh

.PHONY: images
images: ## Build and pack goray/goray:dev and goray/operator:dev, import them into the test cluster.
	hack/cluster/load-images.sh

.PHONY: helm-lint
helm-lint: ## helm lint both charts (helm is built once into ~/.cache/goray/tools).
	hack/sync-charts.sh --check
	$$(hack/helm.sh) lint --strict charts/goray-operator charts/ray-cluster

.PHONY: helm-golden
helm-golden: ## Rewrite the golden `helm template` outputs in test/helm/testdata.
	go test ./test/helm/ -run TestHelmTemplateGolden -update

.PHONY: e2e-reuse
e2e-reuse: ## End-to-end scenarios against the running test cluster, leaving it up.
	GORAY_E2E_REUSE=1 go test -tags e2e -count=1 -timeout 60m -v ./test/e2e/

.PHONY: e2e
e2e: ## End-to-end scenarios on the test cluster (root; the first run builds the node's binaries).
	go test -tags e2e -count=1 -timeout 90m -v ./test/e2e/

##@ Run

.PHONY: run
run: ## Local Kubernetes + the operator via Helm + the sample RayJob, with its result (root).
	hack/quickstart.sh

.PHONY: run-local
run-local: ## Run the square example on an embedded local cluster (no Kubernetes needed).
	go run ./examples/square

##@ Benchmarks

.PHONY: bench-operator
bench-operator: control-plane ## 1,000 RayClusters (1 head + 3 workers) against a real apiserver: time to all pods and statuses, operator peak RSS; then the same API writes without an operator (the floor).
	go test ./test/bench/ -run '^$$' -bench 'OperatorScale|APIFloor' -benchtime 1x -timeout 30m
