# shellcheck shell=bash
# Shared settings of goray's single-node e2e test cluster (sourced by up.sh,
# node.sh, down.sh, status.sh, load-images.sh). Facts quoted in comments come
# from ../shared/TEST-CLUSTER.md (measured on this kind of machine).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${GORAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/goray}
STATE=${GORAY_CLUSTER_DIR:-$CACHE/cluster}

# Network: the whole node runs inside this namespace. Tests may only talk to
# loopback and to hosts inside namespaces they created: never to the
# machine's own interface address.
NETNS=goray-e2e
VETH_HOST=goray-e2e-h   # root-namespace end, 10.250.0.1/30
VETH_NODE=goray-e2e-n   # namespace end, 10.250.0.2/30 (node IP, apiserver address)
HOST_IP=10.250.0.1
NODE_IP=10.250.0.2
POD_CIDR=10.244.0.0/16      # routed via NODE_IP from the root namespace
NODE_POD_CIDR=10.244.0.0/24 # the bridge CNI's host-local range
SERVICE_CIDR=10.0.0.0/24
KUBERNETES_SVC_IP=10.0.0.1
DNS_SVC_IP=10.0.0.10
NODE_NAME=goray-e2e-node
CLUSTER_DOMAIN=cluster.local
# cgroup subtree (in every hierarchy) for the kubelet's pods: cleanup then
# touches nothing else on the host.
CGROUP_ROOT=/goray-e2e

PAUSE_IMAGE=docker.io/goray/pause:dev
COREDNS_IMAGE=docker.io/goray/coredns:dev

PKI=$STATE/pki
CONF=$STATE/config
RUN=$STATE/run       # pid files
LOGS=$STATE/logs
DATA=$STATE/data     # wiped by down.sh
IMAGES=$STATE/images # image tarballs (kept, rebuilt cheaply)
KUBECONFIG_ADMIN=$STATE/kubeconfig
CONTAINERD_SOCK=$DATA/containerd/containerd.sock

# Components in start order; down.sh stops them in reverse.
COMPONENTS=(etcd kube-apiserver containerd kube-controller-manager kube-scheduler kubelet kube-proxy)

# Host paths that some component hard-codes. Inside the node's mount
# namespace each is bind-mounted from $DATA/host/<path>, so nothing lands on the
# host; the host only gets an empty mount point, which down.sh removes when
# up.sh created it.
#   /var/log/containers, /var/log/pods: kubelet's container log symlinks/files
#   /var/lib/cni: libcni's result cache (containerd 1.6 has no setting for it)
#   /run/containerd: containerd 1.6 puts shim sockets in /run/containerd/s
#     (a path under $STATE would exceed the 108-byte socket path limit)
#   /var/lib/kubelet: the kubelet's device-plugin socket ignores --root-dir
HOST_BIND_DIRS=(/var/log/containers /var/log/pods /var/lib/cni /run/containerd /var/lib/kubelet)

# Kernel-wide sysctls that the kubelet (protectKernelDefaults: false) sets to
# these values when they differ. They are not per network namespace, so inside
# the node's mount namespace each file is covered with a bind-mounted copy
# holding the value the kubelet wants: the host's settings stay untouched.
KUBELET_SYSCTLS=(vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1
  kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000)

# Seconds since the start of the top-level script (node.sh inherits it).
export GORAY_CLUSTER_T0=${GORAY_CLUSTER_T0:-$(date +%s)}
log() { printf '[cluster %3ds] %s\n' "$(($(date +%s) - GORAY_CLUSTER_T0))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# bin_dir builds (or finds cached) every binary the node needs and prints
# the folder (~/.cache/goray/k8s/<version>).
bin_dir() {
  "$REPO/hack/control-plane.sh" etcd kube-apiserver kube-controller-manager kube-scheduler \
    kubelet kube-proxy kubectl coredns
}

# K8S_BIN is set by callers; kubectl always uses the admin kubeconfig.
kc() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

# lock_cluster: one up/down at a time on this machine (a nested call, such as
# up.sh running down.sh, inherits the lock). fd 9 is closed for the daemons.
lock_cluster() {
  [ -n "${GORAY_CLUSTER_LOCKED:-}" ] && return 0
  mkdir -p "$STATE"
  exec 9>"$STATE/.lock"
  if ! flock -n 9; then
    log "another hack/cluster up/down runs; waiting for it"
    flock 9
  fi
  export GORAY_CLUSTER_LOCKED=1
}

netns_exists() { [ -e "/run/netns/$NETNS" ]; }

# pid_alive NAME: the pid in $RUN/NAME.pid is running and is still that
# component (guards against a recycled pid).
pid_alive() {
  local f="$RUN/$1.pid" pid exe
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # A zombie (exited, not yet reaped by init) counts as gone.
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  exe=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$exe" == *"$1"* ]]
}

# run_in_node CMD...: run a command in the node's network AND mount namespace
# (the one that containerd, the kubelet and the rest share).
run_in_node() {
  pid_alive containerd || die "containerd is not running (hack/cluster/up.sh first)"
  nsenter --target "$(cat "$RUN/containerd.pid")" --mount --net -- "$@"
}

ctr_node() { run_in_node ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
