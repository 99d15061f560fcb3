#!/usr/bin/env bash
# Starts the test cluster's second node: a worker node (containerd, kubelet,
# kube-proxy) in its own network namespace goray-e2e-2, joined to the first
# node's namespace by the veth pair goray-e2e-l1 (10.250.1.1, in goray-e2e)
# <-> goray-e2e-l2 (10.250.1.2, in goray-e2e-2). up.sh calls it; run it by
# hand to bring back a node that node2-lose.sh took away.
#
#   hack/cluster/node2-up.sh               # start, wait for the node to be Ready
#   hack/cluster/node2-up.sh --all-images  # also import every packed image ($STATE/images/*.tar)
#   hack/cluster/node2-up.sh --no-wait     # do not wait for Ready (up.sh waits for both nodes)
#
# Idempotent: a running second node is left alone; a half-started one is
# removed first (node2-lose.sh). Needs the first node running.
#
# Routing (the root namespace does not forward; the first node does):
#   node 1: 10.244.1.0/24 (node 2's pods) via 10.250.1.2
#   node 2: 10.250.0.0/30 (the API server's address, the root namespace's end
#           of the first veth) and 10.244.0.0/24 (node 1's pods) via 10.250.1.1
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, mounts, cgroups)"
lock_cluster
K8S_BIN=${K8S_BIN:-$CACHE/k8s/${K8S_VERSION:-v1.37.2}}
export K8S_BIN

all_images=0 wait=1
for a in "$@"; do
  case $a in
    --all-images) all_images=1 ;;
    --no-wait) wait=0 ;;
    *) die "unknown argument $a (want --all-images, --no-wait)" ;;
  esac
done
t0=$(date +%s)

netns_exists && pid_alive containerd && pid_alive kube-apiserver ||
  die "the first node is not running (hack/cluster/up.sh)"

running=0
for c in "${COMPONENTS2[@]}"; do pid_alive "node2/$c" && running=$((running + 1)); done
if [ "$running" = "${#COMPONENTS2[@]}" ] && netns2_exists; then
  log "node 2: already running"
  [ "$wait" = 0 ] || kc wait --for=condition=Ready "node/$NODE2_NAME" --timeout=120s >/dev/null
  exit 0
fi
if [ "$running" -gt 0 ] || netns2_exists || [ -d "$DATA2" ]; then
  log "node 2: a partial node is left from before ($running/${#COMPONENTS2[@]} components running): removing it first"
  "$REPO/hack/cluster/node2-lose.sh"
fi

# --- PKI, kubeconfigs, configuration ------------------------------------------
gen_cert kubelet2 "system:node:$NODE2_NAME" system:nodes client
gen_cert kubelet2-serving "$NODE2_NAME" "" server "IP:$NODE2_IP,DNS:$NODE2_NAME"
mkdir -p "$CONF2" "$RUN2" "$DATA2"
write_kubeconfig "$CONF2/kubelet.kubeconfig" kubelet2
write_kubeconfig "$CONF2/kube-proxy.kubeconfig" kube-proxy
write_node_config "$CONF2" "$DATA2" "$CONTAINERD_SOCK2" "$NODE2_POD_CIDR" "$NODE2_IP" "$CGROUP_ROOT2" kubelet2-serving
for c in "${COMPONENTS2[@]}"; do : >>"$LOGS/node2-$c.log"; done
for d in "${HOST_BIND_DIRS[@]}"; do mkdir -p "$DATA2/host$d"; done
make_cgroup_subtree "$CGROUP_ROOT2"

# --- network -------------------------------------------------------------------
log "node 2: namespace $NETNS2, link $LINK1 ($NODE1_LINK_IP, in $NETNS) <-> $LINK2 ($NODE2_IP)"
ip netns add "$NETNS2"
ip link add "$LINK1" type veth peer name "$LINK2"
ip link set "$LINK1" netns "$NETNS"
ip link set "$LINK2" netns "$NETNS2"
ip -n "$NETNS" addr add "$NODE1_LINK_IP/30" dev "$LINK1"
ip -n "$NETNS" link set "$LINK1" up
ip -n "$NETNS2" link set lo up
ip -n "$NETNS2" addr add "$NODE2_IP/30" dev "$LINK2"
ip -n "$NETNS2" link set "$LINK2" up
ip -n "$NETNS" route add "$NODE2_POD_CIDR" via "$NODE2_IP" dev "$LINK1"
# No default route on node 2 either: only the first node's addresses.
ip -n "$NETNS2" route add "${HOST_IP%.*}.0/30" via "$NODE1_LINK_IP" dev "$LINK2"
ip -n "$NETNS2" route add "$NODE_POD_CIDR" via "$NODE1_LINK_IP" dev "$LINK2"

# --- the node ------------------------------------------------------------------
# One `ip netns exec` for all of its components: one mount namespace of its own.
log "node 2: starting containerd, kubelet, kube-proxy"
GORAY_CLUSTER_DIR=$STATE ip netns exec "$NETNS2" bash "$REPO/hack/cluster/node2.sh"

if [ "$all_images" = 1 ]; then
  for t in "$IMAGES"/*.tar; do
    case $(basename "$t") in pause.tar | coredns.tar) continue ;; esac
    ctr_node2 images import "$t" >/dev/null
    log "node 2: imported $(basename "$t")"
  done
fi
if [ "$wait" = 1 ]; then
  for _ in $(seq 120); do kc get node "$NODE2_NAME" >/dev/null 2>&1 && break; sleep 0.5; done
  kc wait --for=condition=Ready "node/$NODE2_NAME" --timeout=120s >/dev/null
  log "node 2: $NODE2_NAME Ready ($(($(date +%s) - t0)) s)"
else
  log "node 2: started ($(($(date +%s) - t0)) s)"
fi
