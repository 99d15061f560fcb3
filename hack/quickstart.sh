#!/usr/bin/env bash
# The README's first command (`make run`): a real single-node Kubernetes on
# this machine (hack/cluster), goray's images loaded into it, the operator
# installed with its Helm chart, and the sample RayJob
# (config/samples/ray-job.sample.yaml, `goray-examples pi`) run to its end,
# with its result printed. Needs root; the first run builds the node's
# binaries (~20 min on 2 cores), later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "[quickstart] $*" >&2; }

say "starting the test cluster"
hack/cluster/up.sh
# shellcheck disable=SC1091
source "${GORAY_CLUSTER_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/goray/cluster}/env"

say "building and loading the images"
hack/cluster/load-images.sh

helm=$(hack/helm.sh)
say "installing the operator with Helm"
"$helm" upgrade --install goray-operator charts/goray-operator --namespace goray-system --create-namespace \
  --set image.tag=dev --set image.pullPolicy=IfNotPresent --wait --timeout 5m

say "running the sample RayJob (goray-examples pi)"
kubectl delete rayjob rayjob-sample --ignore-not-found --wait=true >/dev/null
kubectl apply --server-side -f config/samples/ray-job.sample.yaml >/dev/null
last=""
for _ in $(seq 1 600); do
  state=$(kubectl get rayjob rayjob-sample -o jsonpath='{.status.jobDeploymentStatus}/{.status.jobStatus}' 2>/dev/null || true)
  if [ "$state" != "$last" ]; then say "rayjob-sample: ${state:-New}"; last=$state; fi
  case "$state" in Complete/*|Failed/*|ValidationFailed/*) break ;; esac
  sleep 1
done
say "the job's output:"
kubectl logs job/rayjob-sample --tail=50 || true
case "$state" in
  Complete/SUCCEEDED) say "done: the sample RayJob succeeded. Tear down with: make cluster-down" ;;
  *) say "the sample RayJob ended $state:"; kubectl get rayjob rayjob-sample -o jsonpath='{.status.reason}: {.status.message}{"\n"}' >&2; exit 1 ;;
esac
