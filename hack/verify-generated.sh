#!/usr/bin/env bash
# Fails when a generated file (deepcopy, CRDs, RBAC, protobuf) differs from
# what `make generate manifests` produces from the sources in this tree.
# The regenerated files are left in place, so `git diff` shows what was stale.
# The generators are the Makefile's pinned builds in bin/ (controller-gen, buf,
# protoc-gen-go, protoc-gen-go-grpc, all from the Go module proxy): no protoc or
# other hand-installed tool, so the result is the same on every machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}

snapshot() {
  find api config/crd config/rbac runtime/proto examples/greeter/greeterpb -type f \
    \( -name 'zz_generated*.go' -o -name '*.yaml' -o -name '*.pb.go' \) 2>/dev/null |
    LC_ALL=C sort | xargs -r sha256sum
}

before=$(snapshot)
$MAKE --no-print-directory generate manifests >/dev/null
after=$(snapshot)
if [ "$before" != "$after" ]; then
  echo "generated files are stale; run 'make generate manifests' and commit the result:" >&2
  diff <(echo "$before") <(echo "$after") | sed -n 's/^[<>] [0-9a-f]*  /  /p' | LC_ALL=C sort -u >&2
  exit 1
fi

echo "generated files are up to date"
