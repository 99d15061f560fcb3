#!/usr/bin/env bash
# Prints the path of helm v3.22.0, building it once from the Go module proxy
# (`go install`, ~2.5 min on 2 cores) into ~/.cache/goray/tools/helm-v3.22.0
# and linking it as bin/helm.
#
#   hack/helm.sh                 # ensure, print the path
#   $(hack/helm.sh) lint charts/goray-operator
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
VERSION=${HELM_VERSION:-v3.22.0}
CACHE=${GORAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/goray}
bin=$CACHE/tools/helm-$VERSION
if [ ! -x "$bin" ]; then
  echo "building helm $VERSION (go install, cached in $bin)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && GOBIN=$tmp GOFLAGS=-mod=mod CGO_ENABLED=0 go install "helm.sh/helm/v3/cmd/helm@$VERSION")
  mkdir -p "$(dirname "$bin")"
  mv "$tmp/helm" "$bin"
fi
mkdir -p "$REPO/bin"
ln -sfn "$bin" "$REPO/bin/helm"
echo "$bin"
