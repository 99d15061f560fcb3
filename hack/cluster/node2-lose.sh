#!/usr/bin/env bash
# Loses the test cluster's second node the way a machine is lost: SIGKILL
# for its kubelet, kube-proxy, containerd, containerd's shims and every pod
# process (its cgroup subtree), then its network namespace goes (with the
# veth pair to the first node and the route to its pods) and its data.
# Nothing tells the API server: the Node object stays, and turns NotReady
# once the node controller misses its heartbeats; its pods stay bound to it.
# node2-up.sh brings the node back (empty); down.sh uses this to remove it.
#
#   hack/cluster/node2-lose.sh
#
# Safe to run twice or on a half-started node.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
lock_cluster
t0=$(date +%s)

killed=()
for c in kubelet kube-proxy containerd; do
  if pid_alive "node2/$c"; then
    kill -KILL "$(cat "$RUN2/$c.pid")" 2>/dev/null || true
    killed+=("$c")
  fi
done
# containerd's shims for node 2 (started with its socket address).
for p in $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK2" || true); do
  kill -KILL "$p" 2>/dev/null || true
  killed+=("shim:$p")
done
# Every process left in node 2's cgroup subtree: its pods' processes.
if [ -f "$DATA/cgroup-mounts" ]; then
  mapfile -t hier <"$DATA/cgroup-mounts"
else
  mapfile -t hier < <(awk '$3 == "cgroup" || $3 == "cgroup2" {print $3, $2, $4}' /proc/self/mounts)
fi
for i in $(seq 40); do
  left=0
  for h in "${hier[@]}"; do
    read -r _ dir _ <<<"$h"
    [ -d "$dir$CGROUP_ROOT2" ] || continue
    for p in $(find "$dir$CGROUP_ROOT2" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
      kill -KILL "$p" 2>/dev/null || true
      left=1
    done
  done
  [ "$left" = 0 ] && break
  [ "$i" = 1 ] && killed+=("pod processes")
  sleep 0.25
done
[ "$left" = 0 ] || log "warning: processes still in $CGROUP_ROOT2 after 10 s"
for i in $(seq 40); do
  alive=0
  for c in "${COMPONENTS2[@]}"; do pid_alive "node2/$c" && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.25
done

if netns2_exists; then
  # Its iptables rules, the bridge and the veth pair (with the first node's
  # route to its pods) go with the namespace.
  ip netns del "$NETNS2"
  killed+=("netns $NETNS2")
fi
if netns_exists; then
  ip -n "$NETNS" link del "$LINK1" 2>/dev/null || true
fi

# The cgroup subtree, deepest first (rmdir works on empty cgroups).
for i in $(seq 20); do
  left=0
  for h in "${hier[@]}"; do
    read -r _ dir _ <<<"$h"
    [ -d "$dir$CGROUP_ROOT2" ] || continue
    find "$dir$CGROUP_ROOT2" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ -d "$dir$CGROUP_ROOT2" ] && left=1
  done
  [ "$left" = 0 ] && break
  sleep 0.5
done
[ "$left" = 0 ] || log "warning: cgroup subtree $CGROUP_ROOT2 still busy"
rm -rf "$DATA2" "$RUN2"
if [ ${#killed[@]} -gt 0 ]; then
  log "node 2 lost: killed ${killed[*]} ($(($(date +%s) - t0)) s)"
else
  log "node 2: nothing was running"
fi
