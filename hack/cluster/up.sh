#!/usr/bin/env bash
# Brings up goray's two-node e2e test cluster: the first node in the network
# namespace goray-e2e (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd, kubelet, kube-proxy), the second, a worker node,
# in goray-e2e-2 (containerd, kubelet, kube-proxy; node2-up.sh), then CoreDNS
# as a Deployment.
#
#   hack/cluster/up.sh          # ends when the node is Ready and CoreDNS runs
#   export KUBECONFIG=~/.cache/goray/cluster/kubeconfig   # or: source ~/.cache/goray/cluster/env
#
# Idempotent: a running cluster is left alone (a lost second node is started
# again); a half-started one is torn down first. Binaries are built once into ~/.cache/goray/k8s/<version> and reused.
# State lives in $GORAY_CLUSTER_DIR (default ~/.cache/goray/cluster).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, mounts, cgroups)"
lock_cluster
trap 'log "up FAILED: component logs are in $LOGS; hack/cluster/down.sh cleans up (the next up.sh does too)"' ERR

# --- host packages -----------------------------------------------------------
# containerd 1.6, runc 1.1 and the CNI plugins come from Debian (TEST-CLUSTER.md).
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v ip >/dev/null || need+=(iproute2)
command -v openssl >/dev/null || need+=(openssl)
command -v nsenter >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} with apt"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# Debian puts the CNI plugins in /usr/lib/cni; upstream tarballs in /opt/cni/bin.
CNI_BIN_DIR=$(cni_bin_dir)
for p in bridge host-local portmap loopback; do
  [ -x "$CNI_BIN_DIR/$p" ] || die "CNI plugin $p missing in $CNI_BIN_DIR"
done

# --- binaries ----------------------------------------------------------------
log "binaries: building what is missing (cold: ~20 min on 2 cores; then cached)"
K8S_BIN=$(bin_dir 2> >(sed 's/^/    /' >&2))
export K8S_BIN
log "binaries: $K8S_BIN"

# --- already up? -------------------------------------------------------------
running=0
for c in "${COMPONENTS[@]}"; do pid_alive "$c" && running=$((running + 1)); done
if [ "$running" = "${#COMPONENTS[@]}" ] && netns_exists; then
  log "cluster already running; checking the node"
  kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=60s >/dev/null
  # The second node may have been lost on purpose (node2-lose.sh): start it
  # again, with every image the first node has.
  "$REPO/hack/cluster/node2-up.sh" --all-images
  log "ready: export KUBECONFIG=$KUBECONFIG_ADMIN"
  exit 0
fi
if [ "$running" -gt 0 ] || netns_exists || netns2_exists || [ -d "$DATA" ]; then
  # Half-started, or a down.sh that did not finish: clean up first, so the
  # new cluster starts from empty etcd/kubelet/containerd state.
  log "a partial cluster is left from before ($running/${#COMPONENTS[@]} components running): tearing it down first"
  "$REPO/hack/cluster/down.sh"
fi

mkdir -p "$PKI" "$CONF" "$RUN" "$LOGS" "$DATA" "$IMAGES" "$STATE/bin"
for c in "${COMPONENTS[@]}"; do : >"$LOGS/$c.log"; done

# --- images: pause (the sandbox image) and CoreDNS ----------------------------
# No Docker and no registry here: hack/images packs static binaries into
# docker-archive tarballs that node.sh imports with `ctr images import`.
log "images: packing pause and coredns"
(
  cd "$REPO"
  CGO_ENABLED=0 go build -trimpath -o "$STATE/bin/goray-images" ./hack/images
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$STATE/bin/pause" ./hack/images/pause
)
"$STATE/bin/goray-images" -o "$IMAGES/pause.tar" -t "$PAUSE_IMAGE" \
  -entrypoint /pause "$STATE/bin/pause=/pause" >/dev/null
if [ ! -f "$IMAGES/coredns.tar" ] || [ "$K8S_BIN/coredns" -nt "$IMAGES/coredns.tar" ]; then
  "$STATE/bin/goray-images" -o "$IMAGES/coredns.tar" -t "$COREDNS_IMAGE" \
    -entrypoint /usr/local/bin/coredns "$K8S_BIN/coredns=/usr/local/bin/coredns" >/dev/null
fi

# --- PKI ---------------------------------------------------------------------
if [ ! -f "$PKI/ca.crt" ]; then
  log "pki: creating a CA and certificates in $PKI"
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 -subj "/CN=goray-e2e-ca" 2>/dev/null
  openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
fi
# Serving cert SANs: the node address (kubectl from the root namespace), the
# first service IP (pods' in-cluster config), loopback, kubernetes.default.svc...
gen_cert apiserver kube-apiserver "" server \
  "IP:$NODE_IP,IP:$KUBERNETES_SVC_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN"
gen_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters client
gen_cert admin admin system:masters client
gen_cert kube-controller-manager system:kube-controller-manager "" client
gen_cert kube-scheduler system:kube-scheduler "" client
gen_cert kubelet "system:node:$NODE_NAME" system:nodes client
gen_cert kubelet-serving "$NODE_NAME" "" server "IP:$NODE_IP,DNS:$NODE_NAME"
gen_cert kube-proxy system:kube-proxy "" client
chmod 600 "$PKI"/*.key

write_kubeconfig "$KUBECONFIG_ADMIN" admin
for c in kube-controller-manager kube-scheduler kubelet kube-proxy; do
  write_kubeconfig "$CONF/$c.kubeconfig" "$c"
done

# --- configuration files -----------------------------------------------------
mkdir -p "$DATA/etcd" "$DATA/sysctl"
# containerd.toml, the CNI conflist (bridge cni0, host-local IPAM) and
# kubelet.yaml (lib.sh: write_node_config; node2-up.sh writes the second node's).
write_node_config "$CONF" "$DATA" "$CONTAINERD_SOCK" "$NODE_POD_CIDR" "$NODE_IP" "$CGROUP_ROOT" kubelet-serving

# Pods with dnsPolicy Default (CoreDNS itself) get this instead of the
# machine's resolv.conf: nothing in the cluster may query a resolver outside.
echo "nameserver 127.0.0.1" >"$CONF/resolv.conf"

for s in "${KUBELET_SYSCTLS[@]}"; do
  mkdir -p "$(dirname "$DATA/sysctl/${s%%=*}")"
  echo "${s#*=}" >"$DATA/sysctl/${s%%=*}"
done

# The v1 cgroup hierarchies as mounted on the host: node.sh mounts the same
# ones again because `ip netns exec` mounts a fresh /sys that hides them
# (kubelet: "failed to find cgroup mounts").
awk '$3 == "cgroup" || $3 == "cgroup2" {print $3, $2, $4}' /proc/self/mounts >"$DATA/cgroup-mounts"

# --- cgroup subtree ----------------------------------------------------------
make_cgroup_subtree "$CGROUP_ROOT"

# --- host mount points for the bind mounts of node.sh -----------------------
# (Recorded outside $DATA, appended, so an interrupted down.sh cannot lose it.)
for d in "${HOST_BIND_DIRS[@]}"; do
  if [ ! -d "$d" ]; then
    mkdir -p "$d"
    echo "$d" >>"$STATE/created-host-dirs"
  fi
  mkdir -p "$DATA/host$d"
done

# --- network namespace and veth ----------------------------------------------
log "network: namespace $NETNS, veth $VETH_HOST ($HOST_IP) <-> $VETH_NODE ($NODE_IP)"
for cidr in "$POD_CIDR" "$SERVICE_CIDR"; do
  if ip route show "$cidr" | grep -q . || ip route show match "${cidr%/*}" | grep -v '^default' | grep -q .; then
    die "the host already routes $cidr somewhere ($(ip route show match "${cidr%/*}" | head -1)); refusing to shadow it"
  fi
done
# `ip netns add` creates /run/netns (a shared bind mount of itself) when
# missing; down.sh removes it again if it is ours and empty.
[ -d /run/netns ] || echo /run/netns >>"$STATE/created-host-dirs"
ip netns add "$NETNS"
ip link add "$VETH_HOST" type veth peer name "$VETH_NODE"
ip link set "$VETH_NODE" netns "$NETNS"
ip addr add "$HOST_IP/30" dev "$VETH_HOST"
ip link set "$VETH_HOST" up
ip -n "$NETNS" link set lo up
ip -n "$NETNS" addr add "$NODE_IP/30" dev "$VETH_NODE"
ip -n "$NETNS" link set "$VETH_NODE" up
# No default route inside the namespace: nothing in the cluster can reach
# beyond this machine. From the root namespace, pod and service addresses are
# routed to the node over the veth, so they never follow the host's default
# route out of the machine.
ip route add "$POD_CIDR" via "$NODE_IP" dev "$VETH_HOST"
ip route add "$SERVICE_CIDR" via "$NODE_IP" dev "$VETH_HOST"

# --- the node ----------------------------------------------------------------
# Everything starts from ONE `ip netns exec`, so all components share one
# mount namespace (otherwise containerd cannot see the kubelet's volume mounts
# and service-account tokens come out empty).
log "node: starting etcd, kube-apiserver, containerd, controller-manager, scheduler, kubelet, kube-proxy"
GORAY_CLUSTER_DIR=$STATE ip netns exec "$NETNS" bash "$REPO/hack/cluster/node.sh"

# --- the second node ---------------------------------------------------------
# Its own namespace, joined to the first node's; its kubelet registers while
# CoreDNS is applied (both nodes are waited for below).
"$REPO/hack/cluster/node2-up.sh" --no-wait

# --- cluster add-ons ---------------------------------------------------------
log "coredns: applying the Deployment and the kube-dns Service ($DNS_SVC_IP)"
sed -e "s|@DNS_SVC_IP@|$DNS_SVC_IP|g" -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" \
  -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|g" "$REPO/hack/cluster/coredns.yaml" | kc apply -f - >/dev/null

log "waiting for nodes $NODE_NAME and $NODE2_NAME to be Ready"
for n in "$NODE_NAME" "$NODE2_NAME"; do
  for _ in $(seq 120); do kc get node "$n" >/dev/null 2>&1 && break; sleep 0.5; done
  kc wait --for=condition=Ready "node/$n" --timeout=120s >/dev/null
done
log "nodes Ready"
kc -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null
log "coredns running"

cat >"$STATE/env" <<EOF
# source this file to use the goray e2e test cluster
export KUBECONFIG=$KUBECONFIG_ADMIN
export PATH=$K8S_BIN:\$PATH
EOF
log "up in $(($(date +%s) - GORAY_CLUSTER_T0)) s. Use: source $STATE/env && kubectl get pods -A"
