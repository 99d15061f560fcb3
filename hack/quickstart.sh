#!/usr/bin/env bash
# The quick start in one command: bring up the local test cluster, load the
# images, install the operator with Helm, run the sample RayJob and print its
# result. Root only (see hack/cluster/README.md). Leaves the cluster running;
# hack/cluster/down.sh stops it.
#
#   hack/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { printf '[quickstart %3ds] %s\n' "$(($(date +%s) - t0))" "$*" >&2; }

hack/cluster/up.sh
# shellcheck disable=SC1091
source "${GORAY_CLUSTER_DIR:-${GORAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/goray}/cluster}/env"
hack/cluster/load-images.sh
HELM=$(hack/helm.sh)

say "installing the operator (charts/goray-operator, image goray/operator:dev)"
"$HELM" upgrade --install goray-operator charts/goray-operator \
  --namespace goray-system --create-namespace \
  --set image.pullPolicy=Never --set image.tag=dev --wait --timeout 3m >/dev/null
kubectl -n goray-system rollout restart deployment/goray-operator >/dev/null
kubectl -n goray-system rollout status deployment/goray-operator --timeout=120s >/dev/null

say "running config/samples/ray-job.sample.yaml (goray-examples pi)"
kubectl delete rayjob rayjob-sample --ignore-not-found --wait=true >/dev/null
kubectl apply --server-side -f config/samples/ray-job.sample.yaml >/dev/null
deadline=$(($(date +%s) + 600))
last=
while :; do
  dep=$(kubectl get rayjob rayjob-sample -o jsonpath='{.status.jobDeploymentStatus}')
  job=$(kubectl get rayjob rayjob-sample -o jsonpath='{.status.jobStatus}')
  [ "$dep/$job" != "$last" ] && say "rayjob-sample: jobDeploymentStatus=${dep:-} jobStatus=${job:-}" && last="$dep/$job"
  case $dep in Complete|Failed) break ;; esac
  if [ "$(date +%s)" -gt "$deadline" ]; then
    say "timed out; kubectl describe rayjob rayjob-sample:"
    kubectl describe rayjob rayjob-sample >&2
    exit 1
  fi
  sleep 2
done
say "submitter logs (kubectl logs job/rayjob-sample):"
kubectl logs job/rayjob-sample
if [ "$dep/$job" != "Complete/SUCCEEDED" ]; then
  say "the job ended $dep/$job: kubectl describe rayjob rayjob-sample"
  exit 1
fi
say "done: the job SUCCEEDED. Next: go test -tags e2e -count=1 -v ./test/e2e/  (or GORAY_E2E_REUSE=1 to use this cluster)"
