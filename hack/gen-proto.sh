#!/usr/bin/env bash
# Regenerates the gRPC/protobuf Go code of runtime/proto (the runtime's RPCs)
# and examples/greeter/greeterpb (the gRPC serve example) from their *.proto files.
#
#   make generate        # runs this with the pinned tools
#   hack/gen-proto.sh    # the same on its own
#
# Needs no protoc: the compiler is buf (`buf generate`, a protoc-compatible
# compiler written in Go), and it, protoc-gen-go and protoc-gen-go-grpc are
# built from the Go module proxy at the versions the Makefile pins, into
# bin/<tool>-<version> (`make proto-tools`). $BUF, $PROTOC_GEN_GO and
# $PROTOC_GEN_GO_GRPC, when set, name the binaries to use instead.
#
# The generated headers read `protoc (unknown)`: buf hands the plugins no
# compiler version, so the output depends only on the pinned plugins and the
# .proto files, never on a compiler installed on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}

if [ -z "${BUF:-}" ] || [ -z "${PROTOC_GEN_GO:-}" ] || [ -z "${PROTOC_GEN_GO_GRPC:-}" ]; then
  $MAKE --no-print-directory -s proto-tools >&2
  eval "$($MAKE --no-print-directory -s \
    --eval 'print-proto-tools: ; @echo BUF=$(BUF) PROTOC_GEN_GO=$(PROTOC_GEN_GO) PROTOC_GEN_GO_GRPC=$(PROTOC_GEN_GO_GRPC)' \
    print-proto-tools)"
fi
for tool in "$BUF" "$PROTOC_GEN_GO" "$PROTOC_GEN_GO_GRPC"; do
  if [ ! -x "$tool" ]; then
    echo "gen-proto: $tool is missing; run 'make proto-tools'" >&2
    exit 1
  fi
done

# An inline v2 template: no buf.yaml or buf.gen.yaml in the tree, and the
# plugins run from their pinned paths rather than whatever is on $PATH.
template=$(printf '{"version":"v2","plugins":[%s,%s]}' \
  "{\"local\":\"$PROTOC_GEN_GO\",\"out\":\".\",\"opt\":\"paths=source_relative\"}" \
  "{\"local\":\"$PROTOC_GEN_GO_GRPC\",\"out\":\".\",\"opt\":\"paths=source_relative\"}")

for dir in runtime/proto examples/greeter/greeterpb; do
  (cd "$dir" && "$BUF" generate --template "$template" .)
  echo "generated $dir" >&2
done
