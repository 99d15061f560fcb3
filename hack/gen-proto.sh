#!/usr/bin/env bash
# Regenerates the runtime's gRPC/protobuf Go code in runtime/proto from runtime/proto/*.proto.
#
#   hack/gen-proto.sh
#
# Needs protoc (Debian: apt-get install -y protobuf-compiler). The Go plugins are
# installed into ./bin from the Go module proxy at pinned versions when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/bin"
PROTOC_GEN_GO_VERSION=${PROTOC_GEN_GO_VERSION:-v1.36.12}
PROTOC_GEN_GO_GRPC_VERSION=${PROTOC_GEN_GO_GRPC_VERSION:-v1.5.1}

if ! command -v protoc >/dev/null; then
  echo "protoc not found: install it with 'apt-get install -y protobuf-compiler'" >&2
  exit 1
fi
mkdir -p "$BIN"
if [ ! -x "$BIN/protoc-gen-go" ]; then
  GOBIN="$BIN" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
fi
if [ ! -x "$BIN/protoc-gen-go-grpc" ]; then
  GOBIN="$BIN" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
fi

cd runtime/proto
PATH="$BIN:$PATH" protoc -I . \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  ./*.proto
echo "generated runtime/proto" >&2
