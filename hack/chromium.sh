#!/usr/bin/env bash
# Makes sure a real Chromium is on this machine and prints its path.
# The dashboard's browser test (runtime/dashboard/browser) drives it
# headless over the DevTools protocol against a head on 127.0.0.1. It is
# Debian's package, installed with apt when missing (root, or sudo without a
# password); nothing is downloaded from anywhere else.
#
#   hack/chromium.sh        install if missing, print the chromium path
#
# GORAY_CHROMIUM=/path/to/chromium skips the lookup and the install.
set -euo pipefail

log() { echo "[chromium] $*" >&2; }

if [ -n "${GORAY_CHROMIUM:-}" ]; then
  [ -x "$GORAY_CHROMIUM" ] || { log "GORAY_CHROMIUM=$GORAY_CHROMIUM is not an executable"; exit 1; }
  echo "$GORAY_CHROMIUM"
  exit 0
fi

find_browser() {
  local n
  for n in chromium chromium-browser; do
    command -v "$n" 2>/dev/null && return 0
  done
  for p in /usr/bin/chromium /usr/lib/chromium/chromium /usr/bin/chromium-browser; do
    [ -x "$p" ] && { echo "$p"; return 0; }
  done
  return 1
}

if p=$(find_browser); then
  echo "$p"
  exit 0
fi

command -v apt-get >/dev/null 2>&1 || { log "chromium is missing and this machine has no apt-get: install Chromium by hand or set GORAY_CHROMIUM"; exit 1; }
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    log "chromium is missing and installing it needs root (apt-get install chromium)"
    exit 1
  fi
fi

# One install at a time: parallel test packages may all get here at once,
# and apt-get holds its own lock only while it runs.
LOCK=${TMPDIR:-/tmp}/goray-chromium-install.lock
exec 9>"$LOCK"
flock 9
if p=$(find_browser); then
  echo "$p"
  exit 0
fi
log "installing Debian's chromium with apt-get"
export DEBIAN_FRONTEND=noninteractive
# Without recommends: no desktop integration, fonts come as dependencies.
# A list that was never fetched finds nothing: update once, then install.
if ! "${SUDO[@]}" apt-get install -y --no-install-recommends chromium >&2 2>&1; then
  "${SUDO[@]}" apt-get update >&2 2>&1
  "${SUDO[@]}" apt-get install -y --no-install-recommends chromium >&2 2>&1
fi
p=$(find_browser) || { log "apt-get installed chromium but it is not on PATH"; exit 1; }
echo "$p"
