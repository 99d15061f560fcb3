#!/usr/bin/env bash
# Builds goray's static binaries, packs them into images without Docker
# (hack/images) and imports them into the test cluster's containerd.
#
#   hack/cluster/load-images.sh            # build, pack, import
#   hack/cluster/load-images.sh --no-import  # only build and pack (no cluster needed)
#   hack/cluster/load-images.sh --keep-going # a binary that does not build is skipped, loudly
#
# Images (pods use them with imagePullPolicy IfNotPresent or Never):
#   goray/goray:dev     /usr/local/bin/goray (+ goray-examples), entrypoint goray,
#                       and a shell: Debian's busybox-static as /bin/busybox with
#                       /bin/sh, /bin/wget, ... links (the job supervisor runs
#                       entrypoints with `/bin/sh -c`)
#   goray/operator:dev  /usr/local/bin/goray-operator, entrypoint goray-operator
#   goray/redis:dev     Debian's redis-server and redis-cli (hack/redis.sh installs
#                       the package when missing) with the shared libraries and
#                       loader they need (hack/images -ldd), entrypoint redis-server;
#                       the in-cluster Redis of test/e2e/testdata/redis.yaml
# A ./cmd/<name> that does not exist yet is skipped with a message.
# Tarballs go to $GORAY_CLUSTER_DIR/images (default ~/.cache/goray/cluster/images).
# They are imported into both nodes' containerd.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

import=1 keep_going=0
for a in "$@"; do
  case $a in
    --no-import) import=0 ;;
    --keep-going) keep_going=1 ;;
    *) die "unknown argument $a (want --no-import, --keep-going)" ;;
  esac
done

GORAY_IMAGE=${GORAY_IMAGE:-goray/goray:dev}
OPERATOR_IMAGE=${OPERATOR_IMAGE:-goray/operator:dev}
OUT=$STATE/images
BIN=$OUT/bin
mkdir -p "$BIN" "$STATE/bin"

cd "$REPO"
CGO_ENABLED=0 go build -trimpath -o "$STATE/bin/goray-images" ./hack/images

built=()
for name in goray goray-operator goray-examples; do
  if [ ! -d "cmd/$name" ]; then
    log "skip $name: ./cmd/$name does not exist yet"
    continue
  fi
  log "building $name (CGO_ENABLED=0)"
  if ! CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/$name" "./cmd/$name"; then
    [ "$keep_going" = 1 ] || die "./cmd/$name does not build"
    log "WARNING: ./cmd/$name does not build; --keep-going: no image gets it"
    continue
  fi
  built+=("$name")
done
has() { [[ " ${built[*]} " == *" $1 "* ]]; }

# busybox_dir prints a folder holding Debian's busybox-static (bin/busybox and
# its copyright file), downloaded once with `apt-get download` (no install on
# the host) and kept under $CACHE/busybox-static.
busybox_dir() {
  local dir=$CACHE/busybox-static
  if [ ! -x "$dir/root/bin/busybox" ]; then
    log "fetching Debian's busybox-static (apt-get download, cached in $dir)"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" && chmod 0777 "$dir.tmp"
    if ! (cd "$dir.tmp" && apt-get download busybox-static >/dev/null 2>&1); then
      apt-get update -qq >/dev/null || die "apt-get update failed"
      (cd "$dir.tmp" && apt-get download busybox-static >/dev/null) || die "apt-get download busybox-static failed"
    fi
    dpkg-deb -x "$dir.tmp"/busybox-static_*.deb "$dir.tmp/root"
    [ -x "$dir.tmp/root/bin/busybox" ] || die "busybox-static has no bin/busybox"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  printf '%s\n' "$dir"
}
# Applets linked in the runtime image: /bin/sh first (`/bin/sh -c` entrypoints,
# the KubeRay-style submitter), wget for HTTP checks, then common tools that
# user commands and `kubectl exec` sessions expect.
BUSYBOX_APPLETS=(sh wget cat cp date echo env false grep head hostname id kill ls mkdir mv nc
  nslookup ps pwd rm sed sleep tail tee test timeout touch tr true uname wc which xargs)

tars=()
if has goray; then
  bb=$(busybox_dir)
  files=("$BIN/goray=/usr/local/bin/goray"
    "$bb/root/bin/busybox=/bin/busybox"
    "$bb/root/usr/share/doc/busybox-static/copyright=/usr/share/doc/busybox-static/copyright")
  has goray-examples && files+=("$BIN/goray-examples=/usr/local/bin/goray-examples")
  links=(-link /usr/bin/env=/bin/busybox)
  for a in "${BUSYBOX_APPLETS[@]}"; do links+=(-link "/bin/$a=/bin/busybox"); done
  "$STATE/bin/goray-images" -o "$OUT/goray.tar" -t "$GORAY_IMAGE" \
    -entrypoint /usr/local/bin/goray "${links[@]}" "${files[@]}" >/dev/null
  log "packed $GORAY_IMAGE ($OUT/goray.tar)"
  tars+=("$OUT/goray.tar")
elif has goray-examples; then
  log "skip $GORAY_IMAGE: no goray binary to be its entrypoint"
fi
if has goray-operator; then
  "$STATE/bin/goray-images" -o "$OUT/operator.tar" -t "$OPERATOR_IMAGE" \
    -entrypoint /usr/local/bin/goray-operator "$BIN/goray-operator=/usr/local/bin/goray-operator" >/dev/null
  log "packed $OPERATOR_IMAGE ($OUT/operator.tar)"
  tars+=("$OUT/operator.tar")
fi

# Debian's redis-server: one multi-call binary (redis-server is a link to
# redis-check-rdb; it acts by the name it is started as), packed as a file
# named redis-server, with redis-cli and the libraries both load.
REDIS_IMAGE=${REDIS_IMAGE:-goray/redis:dev}
redis_server=$("$REPO/hack/redis.sh")
redis_cli=$(command -v redis-cli || echo /usr/bin/redis-cli)
[ -x "$redis_cli" ] || die "redis-cli missing (Debian's redis-tools, installed with redis-server)"
redis_server=$(readlink -f "$redis_server")
if [ ! -f "$OUT/redis.tar" ] || [ "$redis_server" -nt "$OUT/redis.tar" ] || [ "$STATE/bin/goray-images" -nt "$OUT/redis.tar" ]; then
  files=("$redis_server=/usr/bin/redis-server" "$(readlink -f "$redis_cli")=/usr/bin/redis-cli")
  for f in /usr/share/doc/redis-server/copyright /usr/share/doc/redis-tools/copyright; do
    [ -f "$f" ] && files+=("$f=$f")
  done
  "$STATE/bin/goray-images" -o "$OUT/redis.tar" -t "$REDIS_IMAGE" -ldd \
    -entrypoint /usr/bin/redis-server "${files[@]}" >/dev/null
  log "packed $REDIS_IMAGE ($OUT/redis.tar, Debian's $(dpkg-query -W -f '${Version}' redis-server 2>/dev/null || echo redis-server))"
else
  log "packed $REDIS_IMAGE (unchanged: $OUT/redis.tar)"
fi
tars+=("$OUT/redis.tar")

if [ "$import" = 1 ]; then
  for t in "${tars[@]}"; do
    # Inside each node's namespaces, through that node's containerd socket.
    import_image "$t"
    log "imported $(basename "$t") into the cluster's containerd (every node)"
  done
fi
