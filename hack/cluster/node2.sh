#!/usr/bin/env bash
# Runs INSIDE `ip netns exec goray-e2e-2` (called by node2-up.sh, not by
# hand): the second node's own mount namespace is set up like the first's
# (node.sh), then containerd, the kubelet and kube-proxy start in the
# background with their pids in $STATE/run/node2/<name>.pid.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
: "${K8S_BIN:?}"

mount_node_namespace "$DATA2/host"
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.bridge.bridge-nf-call-iptables=1 || log "warning: net.bridge.bridge-nf-call-iptables not available (br_netfilter)"
sysctl -qw net.ipv4.conf.all.route_localnet=1

start() { local name=$1; shift; start_component "$RUN2/$name.pid" "$LOGS/node2-$name.log" "$@"; }
wait_for() { local what=$1; shift; wait_healthy "node 2's $what" "$LOGS/node2-$what.log" "$@"; }

start containerd containerd --config "$CONF2/containerd.toml"
wait_for containerd 30 ctr --address "$CONTAINERD_SOCK2" version
# CoreDNS too: the scheduler may place it on this node (it registers while
# CoreDNS is applied), and the cluster has no registry to pull it from.
for t in pause coredns; do
  ctr --address "$CONTAINERD_SOCK2" --namespace k8s.io images import "$IMAGES/$t.tar" >/dev/null
done

start kubelet "$K8S_BIN/kubelet" --config "$CONF2/kubelet.yaml" \
  --kubeconfig "$CONF2/kubelet.kubeconfig" --root-dir "$DATA2/kubelet" \
  --cert-dir "$DATA2/kubelet/pki" --hostname-override "$NODE2_NAME" --node-ip "$NODE2_IP" --v=1
start kube-proxy "$K8S_BIN/kube-proxy" --kubeconfig "$CONF2/kube-proxy.kubeconfig" \
  --proxy-mode iptables --hostname-override "$NODE2_NAME" --cluster-cidr "$POD_CIDR" \
  --conntrack-max-per-core=0 --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
  --healthz-bind-address 127.0.0.1:10256 --metrics-bind-address 127.0.0.1:10249 --v=1
wait_for kubelet 60 curl -fsS http://127.0.0.1:10248/healthz
wait_for kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
log "node 2: containerd, kubelet, kube-proxy up"
