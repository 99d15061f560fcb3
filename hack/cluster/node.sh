#!/usr/bin/env bash
# Runs INSIDE `ip netns exec goray-e2e` (called by up.sh, not by hand): fixes
# up the fresh mount namespace, then starts every node component in the
# background with its pid in $STATE/run/<name>.pid. All components share this
# one mount namespace, which lives on after this script exits.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${K8S_BIN:?}"

# --- mount namespace ---------------------------------------------------------
# cgroup hierarchies again (`ip netns exec` mounts a fresh /sys), the
# hard-coded host paths from $DATA/host/..., the masked kernel sysctls.
mount_node_namespace "$DATA/host"

# Per-namespace network settings (the host's own are untouched).
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.bridge.bridge-nf-call-iptables=1 || log "warning: net.bridge.bridge-nf-call-iptables not available (br_netfilter)"
sysctl -qw net.ipv4.conf.all.route_localnet=1

start() { local name=$1; shift; start_component "$RUN/$name.pid" "$LOGS/$name.log" "$@"; }
wait_for() { local what=$1; shift; wait_healthy "$what" "$LOGS/$what.log" "$@"; }
kcn() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

start etcd "$K8S_BIN/etcd" --name goray-e2e --data-dir "$DATA/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster goray-e2e=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
  --log-level warn --quota-backend-bytes 2147483648
wait_for etcd 30 curl -fsS http://127.0.0.1:2381/health
log "node: etcd up"

start kube-apiserver "$K8S_BIN/kube-apiserver" \
  --advertise-address "$NODE_IP" --secure-port 6443 \
  --etcd-servers http://127.0.0.1:2379 \
  --service-cluster-ip-range "$SERVICE_CIDR" \
  --client-ca-file "$PKI/ca.crt" \
  --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
  --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$PKI/ca.crt" \
  --kubelet-preferred-address-types InternalIP,Hostname,ExternalIP \
  --authorization-mode Node,RBAC \
  --enable-admission-plugins NodeRestriction \
  --service-account-issuer "https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
  --service-account-key-file "$PKI/sa.pub" \
  --service-account-signing-key-file "$PKI/sa.key" \
  --allow-privileged=true --profiling=false --v=1 \
  --runtime-config scheduling.k8s.io/v1beta1=true --feature-gates "$FEATURE_GATES"
# (--kubelet-preferred-address-types: `kubectl logs`/`exec` dial the node IP,
# since the node name does not resolve here. The runtime config and
# $FEATURE_GATES serve the Workload API: Workload and PodGroup, beta and off
# by default in 1.37, for the operator's --batch-scheduler=kube-scheduler.)
wait_for kube-apiserver 90 kcn get --raw /readyz
log "node: kube-apiserver ready"

# containerd next: the pause image must be imported before the kubelet asks
# for sandboxes.
start containerd containerd --config "$CONF/containerd.toml"
wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version
for img in "$IMAGES"/pause.tar "$IMAGES"/coredns.tar; do
  ctr --address "$CONTAINERD_SOCK" --namespace k8s.io images import "$img" >/dev/null
done
log "node: containerd up, pause and coredns images imported"

start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
  --kubeconfig "$CONF/kube-controller-manager.kubeconfig" \
  --authentication-kubeconfig "$CONF/kube-controller-manager.kubeconfig" \
  --authorization-kubeconfig "$CONF/kube-controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false \
  --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
  --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
  --use-service-account-credentials=true \
  --service-cluster-ip-range "$SERVICE_CIDR" --allocate-node-cidrs=false --v=1 \
  --feature-gates "$FEATURE_GATES"
start kube-scheduler "$K8S_BIN/kube-scheduler" \
  --kubeconfig "$CONF/kube-scheduler.kubeconfig" \
  --authentication-kubeconfig "$CONF/kube-scheduler.kubeconfig" \
  --authorization-kubeconfig "$CONF/kube-scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --v=1 --feature-gates "$FEATURE_GATES"

# --node-ip: must not be loopback; the veth address is the node's InternalIP.
start kubelet "$K8S_BIN/kubelet" --config "$CONF/kubelet.yaml" \
  --kubeconfig "$CONF/kubelet.kubeconfig" --root-dir "$DATA/kubelet" \
  --cert-dir "$DATA/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v=1

# iptables mode; --conntrack-max-per-core=0 and the zero timeouts leave the
# conntrack sysctls alone (kernel-wide ones are not ours to change).
start kube-proxy "$K8S_BIN/kube-proxy" --kubeconfig "$CONF/kube-proxy.kubeconfig" \
  --proxy-mode iptables --hostname-override "$NODE_NAME" --cluster-cidr "$POD_CIDR" \
  --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
  --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 --v=1

wait_for kube-controller-manager 60 curl -fsk https://127.0.0.1:10257/healthz
wait_for kube-scheduler 60 curl -fsk https://127.0.0.1:10259/healthz
wait_for kubelet 60 curl -fsS http://127.0.0.1:10248/healthz
wait_for kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
log "node: controller-manager, scheduler, kubelet, kube-proxy up"
