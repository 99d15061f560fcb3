#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries that the envtest suite and the
# e2e test cluster need, from the Go module proxy, into a cache outside the
# clone so that every later clone on this machine reuses them.
#
#   hack/control-plane.sh [component...]   build what is missing, print the folder
#
# Components: etcd kube-apiserver kube-scheduler kube-controller-manager
#             kubelet kube-proxy kubectl coredns (default: etcd kube-apiserver)
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.8}
CACHE=${GORAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/goray}
OUT="$CACHE/k8s/$K8S_VERSION"
WORK="$CACHE/k8s/src-$K8S_VERSION"
ETCD_WORK="$CACHE/k8s/src-etcd-$ETCD_VERSION"
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}

log() { echo "[control-plane] $*" >&2; }

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(etcd kube-apiserver)
mkdir -p "$OUT"

staging_version() { # v1.37.2 -> v0.37.2
  local v=${K8S_VERSION#v}; echo "v0.${v#*.}"
}

prepare_k8s_module() {
  [ -f "$WORK/.ready" ] && return 0
  log "preparing a wrapper module for k8s.io/kubernetes $K8S_VERSION in $WORK"
  mkdir -p "$WORK"
  local gomod
  gomod=$(cd "$WORK" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local sv; sv=$(staging_version)
  {
    echo "module goray.dev/k8s-control-plane"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # Every staging module that k8s.io/kubernetes lists at v0.0.0 is replaced by
    # its published release of the same minor version.
    grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk -v sv="$sv" '{print "replace " $1 " => " $1 " " sv}'
  } >"$WORK/go.mod"
  cat >"$WORK/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  (cd "$WORK" && GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || GOFLAGS=-mod=mod go mod tidy)
  touch "$WORK/.ready"
}

k8s_ldflags() {
  local v=${K8S_VERSION#v} major minor
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  local f=""
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f="$f -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  echo "-s -w $f"
}

build_k8s() {
  local name=$1
  if [ -x "$OUT/$name" ]; then log "$name: cached ($OUT/$name)"; return 0; fi
  prepare_k8s_module
  log "$name: building from k8s.io/kubernetes $K8S_VERSION (kube-apiserver takes ~10 min cold on 2 cores)"
  local start=$SECONDS
  (cd "$WORK" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$(k8s_ldflags)" -o "$OUT/$name.tmp" "k8s.io/kubernetes/cmd/$name")
  mv "$OUT/$name.tmp" "$OUT/$name"
  log "$name: built in $((SECONDS - start)) s"
}

build_etcd() {
  if [ -x "$OUT/etcd" ]; then log "etcd: cached ($OUT/etcd)"; return 0; fi
  log "etcd: building go.etcd.io/etcd/server/v3 $ETCD_VERSION"
  local start=$SECONDS
  mkdir -p "$ETCD_WORK"
  if [ ! -f "$ETCD_WORK/go.mod" ]; then
    cat >"$ETCD_WORK/go.mod" <<GOMOD
module goray.dev/etcd

go 1.26

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
    cat >"$ETCD_WORK/tools.go" <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
    (cd "$ETCD_WORK" && GOFLAGS=-mod=mod go mod tidy)
  fi
  (cd "$ETCD_WORK" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$OUT/etcd.tmp" go.etcd.io/etcd/server/v3)
  mv "$OUT/etcd.tmp" "$OUT/etcd"
  log "etcd: built in $((SECONDS - start)) s"
}

# CoreDNS for the e2e test cluster. Its go.mod has no replace directives, so a
# plain `go install module@version` works (about 4 min cold on 2 cores).
build_coredns() {
  if [ -x "$OUT/coredns" ]; then log "coredns: cached ($OUT/coredns)"; return 0; fi
  log "coredns: building github.com/coredns/coredns $COREDNS_VERSION (~4 min cold)"
  local start=$SECONDS gobin
  gobin=$(mktemp -d "$OUT/.coredns-XXXXXX")
  CGO_ENABLED=0 GOBIN="$gobin" GOFLAGS=-mod=mod go install -trimpath \
    -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" \
    "github.com/coredns/coredns@$COREDNS_VERSION"
  mv "$gobin/coredns" "$OUT/coredns"
  rmdir "$gobin"
  log "coredns: built in $((SECONDS - start)) s"
}

for c in "${components[@]}"; do
  case "$c" in
    etcd) build_etcd ;;
    kube-apiserver|kube-scheduler|kube-controller-manager|kubelet|kube-proxy) build_k8s "$c" ;;
    kubectl) build_k8s kubectl ;; # same build as the others; matches the apiserver's version
    coredns) build_coredns ;;
    *) echo "unknown component $c" >&2; exit 2 ;;
  esac
done
echo "$OUT"
