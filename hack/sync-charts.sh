#!/usr/bin/env bash
# Copies the generated manifests into the Helm chart so that the chart never
# drifts from what controller-gen wrote:
#   config/crd/bases/*.yaml  -> charts/goray-operator/crds/
#   config/rbac/role.yaml    -> charts/goray-operator/files/role.yaml (ClusterRole rules)
#
#   hack/sync-charts.sh          # copy (run after `make manifests`)
#   hack/sync-charts.sh --check  # exit 1 and name the files that differ
# test/helm (TestChartCRDsInSync) fails when they differ.
set -euo pipefail
cd "$(dirname "$0")/.."
chart=charts/goray-operator
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

pairs=()
for f in config/crd/bases/*.yaml; do pairs+=("$f=$chart/crds/$(basename "$f")"); done
pairs+=("config/rbac/role.yaml=$chart/files/role.yaml")

stale=0
for p in "${pairs[@]}"; do
  src=${p%%=*} dst=${p#*=}
  if cmp -s "$src" "$dst"; then continue; fi
  if [ "$check" = 1 ]; then
    echo "out of date: $dst (from $src)" >&2
    stale=1
  else
    mkdir -p "$(dirname "$dst")"
    cp "$src" "$dst"
    echo "synced $dst"
  fi
done
# CRDs that no longer exist in config/crd/bases.
for dst in "$chart"/crds/*.yaml; do
  [ -e "$dst" ] || continue
  [ -e "config/crd/bases/$(basename "$dst")" ] && continue
  if [ "$check" = 1 ]; then echo "stale: $dst (not in config/crd/bases)" >&2; stale=1
  else rm "$dst"; echo "removed $dst"; fi
done
exit $stale
