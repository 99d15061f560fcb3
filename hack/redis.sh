#!/usr/bin/env bash
# Makes sure a real redis-server is on this machine and prints its path.
# The GCS storage tests (runtime/gcs/storage, the head-restart tests) start
# it on 127.0.0.1 with a free port and a temporary directory, and kill it by
# pid. It is Debian's package, installed with apt when missing (root, or
# sudo without a password); nothing is downloaded from anywhere else.
#
#   hack/redis.sh        install if missing, print the redis-server path
#
# GORAY_REDIS_SERVER=/path/to/redis-server skips the lookup and the install.
set -euo pipefail

log() { echo "[redis] $*" >&2; }

if [ -n "${GORAY_REDIS_SERVER:-}" ]; then
  [ -x "$GORAY_REDIS_SERVER" ] || { log "GORAY_REDIS_SERVER=$GORAY_REDIS_SERVER is not an executable"; exit 1; }
  echo "$GORAY_REDIS_SERVER"
  exit 0
fi

find_server() {
  command -v redis-server 2>/dev/null && return 0
  for p in /usr/bin/redis-server /usr/local/bin/redis-server /usr/sbin/redis-server; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

if p=$(find_server); then
  echo "$p"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || { log "redis-server is missing and this machine has no apt-get: install Redis >= 6 by hand or set GORAY_REDIS_SERVER"; exit 1; }
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    log "redis-server is missing and installing it needs root (apt-get install redis-server)"
    exit 1
  fi
fi

# One install at a time: parallel test packages may all get here at once.
LOCK=${TMPDIR:-/tmp}/goray-redis-install.lock
exec 9>"$LOCK"
flock 9
if p=$(find_server); then
  echo "$p"
  exit 0
fi
log "installing Debian's redis-server with apt-get"
export DEBIAN_FRONTEND=noninteractive
# A list that was never fetched finds nothing: update once, then install.
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends redis-server >&2 2>&1; then
  "${SUDO[@]}" apt-get update >&2 2>&1
  "${SUDO[@]}" apt-get install -y --no-install-recommends redis-server >&2 2>&1
fi
# The package starts a system service on 6379; the tests start their own.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  "${SUDO[@]}" systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
p=$(find_server) || { log "apt-get installed redis-server but it is not on PATH"; exit 1; }
echo "$p"
