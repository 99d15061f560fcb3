#!/usr/bin/env bash
# Brings up goray's single-node e2e test cluster inside the network namespace
# goray-e2e: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# containerd, kubelet and kube-proxy, then CoreDNS as a Deployment.
#
#   hack/cluster/up.sh          # ends when the node is Ready and CoreDNS runs
#   export KUBECONFIG=~/.cache/goray/cluster/kubeconfig   # or: source ~/.cache/goray/cluster/env
#
# Idempotent: a running cluster is left alone; a half-started one is torn down
# first. Binaries are built once into ~/.cache/goray/k8s/<version> and reused.
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
CNI_BIN_DIR=/usr/lib/cni
[ -x "$CNI_BIN_DIR/bridge" ] || CNI_BIN_DIR=/opt/cni/bin
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
  log "ready: export KUBECONFIG=$KUBECONFIG_ADMIN"
  exit 0
fi
if [ "$running" -gt 0 ] || netns_exists || [ -d "$DATA" ]; then
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
gen_cert() { # name CN O ext(client|server|both) [subjectAltName]
  local name=$1 cn=$2 org=$3 usage=$4 san=${5:-} subj eku
  [ -f "$PKI/$name.crt" ] && return 0
  subj="/CN=$cn"; [ -n "$org" ] && subj="/O=$org$subj"
  case $usage in client) eku=clientAuth ;; server) eku=serverAuth ;; both) eku=serverAuth,clientAuth ;; esac
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$PKI/$name.ext"
  openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$PKI/$name.key" -out "$PKI/$name.csr" -subj "$subj" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$PKI/$name.ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$PKI/$name.ext"
}
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

write_kubeconfig() { # file cert-name
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: goray-e2e
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$2.crt")
    client-key-data: $(base64 -w0 <"$PKI/$2.key")
contexts:
- name: goray-e2e
  context: {cluster: goray-e2e, user: $2}
current-context: goray-e2e
EOF
  chmod 600 "$1"
}
write_kubeconfig "$KUBECONFIG_ADMIN" admin
for c in kube-controller-manager kube-scheduler kubelet kube-proxy; do
  write_kubeconfig "$CONF/$c.kubeconfig" "$c"
done

# --- configuration files -----------------------------------------------------
mkdir -p "$CONF/cni" "$DATA/containerd/root" "$DATA/containerd/state" "$DATA/containerd/runc" \
  "$DATA/kubelet" "$DATA/cni-ipam" "$DATA/etcd" "$DATA/sysctl"
cat >"$CONF/containerd.toml" <<EOF
version = 2
root = "$DATA/containerd/root"
state = "$DATA/containerd/state"
# aufs/btrfs/zfs/devmapper are unused; "opt" would create /opt/containerd on the host.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  # Locally imported pause image: there is no registry to pull from.
  sandbox_image = "$PAUSE_IMAGE"
  # Required here: CAP_SYS_RESOURCE is not granted, and without this every
  # sandbox fails with "runc create failed: ... can't get final child's PID
  # from pipe: EOF" (cause: failed to update /proc/self/oom_score_adj).
  restrict_oom_score_adj = true
  # Pod network namespaces are bind-mounted under our state dir, not /var/run/netns.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # cgroupfs, not systemd: there is no systemd on this machine.
        SystemdCgroup = false
        Root = "$DATA/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$CONF/cni"
    max_conf_num = 1
EOF

# bridge + host-local IPAM (state under our folder) + portmap; containerd's CRI
# sets up each pod's loopback itself with /usr/lib/cni/loopback.
cat >"$CONF/cni/10-goray.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "goray-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$DATA/cni-ipam",
        "ranges": [[{"subnet": "$NODE_POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

# Pods with dnsPolicy Default (CoreDNS itself) get this instead of the
# machine's resolv.conf: nothing in the cluster may query a resolver outside.
echo "nameserver 127.0.0.1" >"$CONF/resolv.conf"

cat >"$CONF/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The machine has a cgroup v1 hierarchy; kubelet 1.37 refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
# Every pod cgroup goes under this subtree (created by up.sh, removed by down.sh).
cgroupRoot: $CGROUP_ROOT
failSwapOn: false
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
imageServiceEndpoint: unix://$CONTAINERD_SOCK
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
clusterDNS: [$DNS_SVC_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $CONF/resolv.conf
podCIDR: $NODE_POD_CIDR
podLogsDir: /var/log/pods
staticPodPath: ""
registerNode: true
protectKernelDefaults: false
serializeImagePulls: false
# Small test machine: never evict because of a full-ish disk.
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%", nodefs.inodesFree: "2%"}
imageGCHighThresholdPercent: 98
imageGCLowThresholdPercent: 95
maxPods: 110
EOF

for s in "${KUBELET_SYSCTLS[@]}"; do
  mkdir -p "$(dirname "$DATA/sysctl/${s%%=*}")"
  echo "${s#*=}" >"$DATA/sysctl/${s%%=*}"
done

# The v1 cgroup hierarchies as mounted on the host: node.sh mounts the same
# ones again because `ip netns exec` mounts a fresh /sys that hides them
# (kubelet: "failed to find cgroup mounts").
awk '$3 == "cgroup" || $3 == "cgroup2" {print $3, $2, $4}' /proc/self/mounts >"$DATA/cgroup-mounts"

# --- cgroup subtree ----------------------------------------------------------
while read -r fstype dir opts; do
  mkdir -p "$dir$CGROUP_ROOT"
  if [ -f "$dir/cpuset.cpus" ] && [ -z "$(cat "$dir$CGROUP_ROOT/cpuset.cpus")" ]; then
    cat "$dir/cpuset.cpus" >"$dir$CGROUP_ROOT/cpuset.cpus"
    cat "$dir/cpuset.mems" >"$dir$CGROUP_ROOT/cpuset.mems"
  fi
done <"$DATA/cgroup-mounts"

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

# --- cluster add-ons ---------------------------------------------------------
log "coredns: applying the Deployment and the kube-dns Service ($DNS_SVC_IP)"
sed -e "s|@DNS_SVC_IP@|$DNS_SVC_IP|g" -e "s|@COREDNS_IMAGE@|$COREDNS_IMAGE|g" \
  -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|g" "$REPO/hack/cluster/coredns.yaml" | kc apply -f - >/dev/null

log "waiting for node $NODE_NAME to be Ready"
for _ in $(seq 120); do kc get node "$NODE_NAME" >/dev/null 2>&1 && break; sleep 0.5; done
kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=120s >/dev/null
log "node Ready"
kc -n kube-system rollout status deployment/coredns --timeout=180s >/dev/null
log "coredns running"

cat >"$STATE/env" <<EOF
# source this file to use the goray e2e test cluster
export KUBECONFIG=$KUBECONFIG_ADMIN
export PATH=$K8S_BIN:\$PATH
EOF
log "up in $(($(date +%s) - GORAY_CLUSTER_T0)) s. Use: source $STATE/env && kubectl get pods -A"
