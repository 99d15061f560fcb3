#!/usr/bin/env bash
# Tears down goray's e2e test cluster and leaves the host clean: deletes the
# workloads and waits for their pods to go, removes the second node
# (node2-lose.sh: its processes, its namespace), stops only the processes up.sh
# started (by the pids in $STATE/run), runs `kube-proxy --cleanup` inside the
# namespace, then removes the namespace, the veth and its routes, the cgroup
# subtree, the mount points up.sh created and the cluster's data. The PKI, the
# image tarballs and the logs stay for the next `up` (and for debugging).
#
#   hack/cluster/down.sh
#
# Safe to run twice or on a half-started cluster.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root"
lock_cluster
K8S_BIN=${K8S_BIN:-$CACHE/k8s/${K8S_VERSION:-v1.37.2}}

# --- workloads ---------------------------------------------------------------
# Pods go through the API while the kubelet still runs, so it stops their
# containers, unmounts their volumes and releases their IPs itself.
if pid_alive kube-apiserver && pid_alive kubelet && kc get --raw /readyz >/dev/null 2>&1; then
  log "deleting workloads"
  # Namespaces first (everything a test created), then controllers, then pods.
  kc get ns -o name | grep -vE '^namespace/(default|kube-system|kube-public|kube-node-lease)$' |
    xargs -r "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" delete --wait=false >/dev/null 2>&1 || true
  kc delete deployments,replicasets,statefulsets,daemonsets,jobs,cronjobs,replicationcontrollers \
    --all --all-namespaces --wait=false >/dev/null 2>&1 || true
  kc delete pods --all --all-namespaces --wait=false --grace-period=2 >/dev/null 2>&1 || true
  for i in $(seq 120); do
    n=$(kc get pods --all-namespaces --no-headers 2>/dev/null | wc -l) || n=?
    [ "$n" = 0 ] && break
    if [ $((i % 10)) = 0 ]; then
      log "  $n pod(s) still terminating"
      # Stragglers (e.g. re-created by a controller we cannot see): force.
      [ "$i" -ge 40 ] && kc delete pods --all --all-namespaces --force --grace-period=0 >/dev/null 2>&1 || true
    fi
    sleep 0.5
  done
  [ "$n" = 0 ] && log "all pods gone" || log "warning: $n pod(s) left; their containers are stopped below"
fi

# --- processes ---------------------------------------------------------------
stop_pids() { # name... : SIGTERM all, wait up to 15 s, then SIGKILL
  local name i pids=() names=()
  for name in "$@"; do
    if pid_alive "$name"; then
      pids+=("$(cat "$RUN/$name.pid")"); names+=("$name")
      kill -TERM "${pids[-1]}" 2>/dev/null || true
    fi
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  for ((i = 0; i < 60; i++)); do
    local alive=0
    for name in "${names[@]}"; do pid_alive "$name" && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.25
  done
  for i in "${!names[@]}"; do
    if pid_alive "${names[$i]}"; then
      log "  ${names[$i]} (${pids[$i]}) ignores SIGTERM: SIGKILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
    log "  stopped ${names[$i]} (${pids[$i]})"
    rm -f "$RUN/${names[$i]}.pid"
  done
}

# The second node (nothing of it is left to the first node's cleanup).
if pid_alive node2/containerd || pid_alive node2/kubelet || pid_alive node2/kube-proxy || netns2_exists || [ -d "$DATA2" ]; then
  log "removing node 2"
  "$REPO/hack/cluster/node2-lose.sh"
fi

log "stopping components"
stop_pids kube-proxy kubelet kube-scheduler kube-controller-manager

# Containers the kubelet did not stop (only if pod deletion failed): stop
# their tasks through our containerd before it goes.
if pid_alive containerd; then
  tasks=$(ctr_node tasks ls -q 2>/dev/null || true)
  if [ -n "$tasks" ]; then
    log "  killing $(echo "$tasks" | wc -l) leftover container task(s)"
    for t in $tasks; do ctr_node tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    sleep 1
    for t in $tasks; do ctr_node tasks delete -f "$t" >/dev/null 2>&1 || true; done
  fi
fi
stop_pids containerd
# containerd's shims (children of our containerd, started with its socket
# address) outlive it when a task was left; they are ours to stop.
for p in $(pgrep -f "containerd-shim.*-address $CONTAINERD_SOCK" || true); do
  log "  stopping leftover shim $p"
  kill -KILL "$p" 2>/dev/null || true
done
stop_pids kube-apiserver
stop_pids etcd

# Processes still in our cgroup subtree were started by our kubelet/containerd.
while read -r fstype dir opts; do
  [ -d "$dir$CGROUP_ROOT" ] || continue
  for p in $(find "$dir$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u); do
    log "  killing leftover pod process $p (in $dir$CGROUP_ROOT)"
    kill -KILL "$p" 2>/dev/null || true
  done
done < <(cat "$DATA/cgroup-mounts" 2>/dev/null || awk '$3 == "cgroup" || $3 == "cgroup2" {print $3, $2, $4}' /proc/self/mounts)

# --- network -----------------------------------------------------------------
if netns_exists; then
  # kube-proxy's own cleanup of its iptables chains, inside the namespace.
  if [ -x "$K8S_BIN/kube-proxy" ]; then
    if ip netns exec "$NETNS" "$K8S_BIN/kube-proxy" --cleanup --proxy-mode iptables >>"$LOGS/kube-proxy.log" 2>&1; then
      log "kube-proxy --cleanup: its iptables chains are gone"
    else
      log "warning: kube-proxy --cleanup failed (see $LOGS/kube-proxy.log); the namespace goes anyway"
    fi
  fi
  ip netns del "$NETNS"
  log "removed netns $NETNS"
fi
ip route del "$POD_CIDR" via "$NODE_IP" 2>/dev/null || true
ip route del "$SERVICE_CIDR" via "$NODE_IP" 2>/dev/null || true
# Deleting the namespace destroys the veth pair, but asynchronously: delete
# our end if it is still there and wait until it is gone, so that an `up`
# right after can create it again.
ip link del "$VETH_HOST" 2>/dev/null || true
for _ in $(seq 40); do ip link show "$VETH_HOST" >/dev/null 2>&1 || break; sleep 0.25; done
ip link show "$VETH_HOST" >/dev/null 2>&1 && die "veth $VETH_HOST does not go away"

# --- mounts, cgroups, host folders, data -------------------------------------
# The node's mounts lived in its own mount namespace, which ended with its
# last process. Anything under the state dir in ours is a leftover: unmount.
awk -v s="$STATE" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
  umount -l "$m" && log "  unmounted $m"
done

# Remove the cgroup subtree, deepest first (rmdir works on empty cgroups).
had=$(compgen -G "/sys/fs/cgroup/*$CGROUP_ROOT" | wc -l || true)
for i in 1 2 3 4 5; do
  left=0
  while read -r fstype dir opts; do
    [ -d "$dir$CGROUP_ROOT" ] || continue
    find "$dir$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ -d "$dir$CGROUP_ROOT" ] && left=1
  done < <(awk '$3 == "cgroup" || $3 == "cgroup2" {print $3, $2, $4}' /proc/self/mounts)
  [ "$left" = 0 ] && break
  sleep 1
done
if [ "$left" = 1 ]; then log "warning: cgroup subtree $CGROUP_ROOT still busy"
elif [ "$had" -gt 0 ]; then log "removed cgroup subtree $CGROUP_ROOT"; fi

if [ -f "$STATE/created-host-dirs" ]; then
  sort -u "$STATE/created-host-dirs" | while read -r d; do
    [ -d "$d" ] || continue
    if [ "$d" = /run/netns ]; then
      [ -z "$(ls -A /run/netns)" ] || { log "/run/netns holds other namespaces: left in place"; continue; }
      while mountpoint -q /run/netns; do umount /run/netns; done
    fi
    rmdir "$d" 2>/dev/null || log "warning: $d (created by up.sh) is not empty, left in place"
  done
  rm -f "$STATE/created-host-dirs"
fi
rm -rf "$DATA" "$RUN"

if iptables-save 2>/dev/null | grep -q -- '-N KUBE-\|:KUBE-'; then
  log "warning: the root namespace has KUBE-* iptables chains (not created by this cluster)"
fi
log "down in $(($(date +%s) - GORAY_CLUSTER_T0)) s"
