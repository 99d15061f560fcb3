# shellcheck shell=bash
# Shared settings of goray's two-node e2e test cluster (sourced by up.sh,
# node.sh, node2-up.sh, node2.sh, node2-lose.sh, down.sh, status.sh,
# load-images.sh). Facts quoted in comments come from ../shared/TEST-CLUSTER.md
# (measured on this kind of machine).

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
# Feature gates of the apiserver, controller-manager and scheduler.
# GenericWorkload: the Workload API and the scheduler's GangScheduling plugin
# (the operator's --batch-scheduler=kube-scheduler, test/e2e/gang_test.go).
FEATURE_GATES=GenericWorkload=true
# cgroup subtree (in every hierarchy) for the kubelet's pods: cleanup then
# touches nothing else on the host.
CGROUP_ROOT=/goray-e2e

# The second node: a worker node (containerd, kubelet, kube-proxy; no control
# plane) in its own network namespace, so that a node can be lost
# (node2-lose.sh) while the first keeps the control plane. The two namespaces
# are joined by a veth pair of their own; the root namespace does not forward
# (its ip_forward is left as the host has it), so the first node routes
# between the root namespace and the second node's pods:
#   root ns --10.250.0.0/30-- node 1 --10.250.1.0/30-- node 2
NETNS2=goray-e2e-2
LINK1=goray-e2e-l1       # in $NETNS, 10.250.1.1/30
LINK2=goray-e2e-l2       # in $NETNS2, 10.250.1.2/30 (node 2's IP)
NODE1_LINK_IP=10.250.1.1
NODE2_IP=10.250.1.2
NODE2_NAME=goray-e2e-node-2
NODE2_POD_CIDR=10.244.1.0/24
CGROUP_ROOT2=$CGROUP_ROOT/node2 # inside the first node's subtree: one subtree to clean

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
# Node 2: config, data and pid files in node2/ folders. Its pid files are
# $RUN/node2/<component>.pid, and pid_alive node2/<component> matches the
# component's command line, which names $CONF/node2/<component>...
CONF2=$CONF/node2
DATA2=$DATA/node2
RUN2=$RUN/node2
CONTAINERD_SOCK2=$DATA2/containerd/containerd.sock
COMPONENTS2=(containerd kubelet kube-proxy)

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

netns2_exists() { [ -e "/run/netns/$NETNS2" ]; }

# pid_alive NAME: the pid in $RUN/NAME.pid is running and is still that
# component (guards against a recycled pid). NAME may be node2/<component>.
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

# ctr_node2 CMD...: ctr against the second node's containerd, in its namespaces.
ctr_node2() {
  pid_alive node2/containerd || die "node 2's containerd is not running (hack/cluster/node2-up.sh)"
  nsenter --target "$(cat "$RUN2/containerd.pid")" --mount --net -- \
    ctr --address "$CONTAINERD_SOCK2" --namespace k8s.io "$@"
}

# import_image TAR: import an image tarball into every running node's
# containerd (pods may be scheduled on either node).
import_image() {
  ctr_node images import "$1" >/dev/null
  if pid_alive node2/containerd; then ctr_node2 images import "$1" >/dev/null; fi
}

# --- PKI and per-node configuration (up.sh and node2-up.sh) ------------------
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
  chmod 600 "$PKI/$name.key"
}

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

# cni_bin_dir prints where the CNI plugins are (Debian: /usr/lib/cni;
# upstream tarballs: /opt/cni/bin).
cni_bin_dir() { if [ -x /usr/lib/cni/bridge ]; then echo /usr/lib/cni; else echo /opt/cni/bin; fi; }

# write_node_config CONF_DIR DATA_DIR SOCK POD_CIDR NODE_IP CGROUP_ROOT SERVING_CERT_NAME
# writes containerd.toml, cni/10-goray.conflist and kubelet.yaml of one node.
write_node_config() {
  local conf=$1 data=$2 sock=$3 podcidr=$4 nodeip=$5 cgroot=$6 serving=$7 cni_bin
  cni_bin=$(cni_bin_dir)
  mkdir -p "$conf/cni" "$data/containerd/root" "$data/containerd/state" "$data/containerd/runc" \
    "$data/kubelet" "$data/cni-ipam"
  cat >"$conf/containerd.toml" <<EOF
version = 2
root = "$data/containerd/root"
state = "$data/containerd/state"
# aufs/btrfs/zfs/devmapper are unused; "opt" would create /opt/containerd on the host.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
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
        Root = "$data/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$cni_bin"
    conf_dir = "$conf/cni"
    max_conf_num = 1
EOF

  # bridge + host-local IPAM (state under our folder) + portmap; containerd's CRI
  # sets up each pod's loopback itself with /usr/lib/cni/loopback.
  cat >"$conf/cni/10-goray.conflist" <<EOF
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
        "dataDir": "$data/cni-ipam",
        "ranges": [[{"subnet": "$podcidr"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

  cat >"$conf/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The machine has a cgroup v1 hierarchy; kubelet 1.37 refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
# Every pod cgroup goes under this subtree (created by up.sh, removed by down.sh).
cgroupRoot: $cgroot
failSwapOn: false
containerRuntimeEndpoint: unix://$sock
imageServiceEndpoint: unix://$sock
address: $nodeip
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $PKI/$serving.crt
tlsPrivateKeyFile: $PKI/$serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization:
  mode: Webhook
clusterDNS: [$DNS_SVC_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $CONF/resolv.conf
podCIDR: $podcidr
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
}

# make_cgroup_subtree DIR: create DIR in every hierarchy of $DATA/cgroup-mounts
# (cpuset: with its parent's cpus and mems, or no task could join it).
make_cgroup_subtree() {
  local fstype dir opts parent
  while read -r fstype dir opts; do
    mkdir -p "$dir$1"
    if [ -f "$dir/cpuset.cpus" ] && [ -z "$(cat "$dir$1/cpuset.cpus")" ]; then
      parent=$(dirname "$dir$1")
      cat "$parent/cpuset.cpus" >"$dir$1/cpuset.cpus"
      cat "$parent/cpuset.mems" >"$dir$1/cpuset.mems"
    fi
  done <"$DATA/cgroup-mounts"
}

# mount_node_namespace HOST_DATA_DIR: in the fresh mount namespace of an
# `ip netns exec`, mount the cgroup hierarchies again, the hard-coded host
# paths from HOST_DATA_DIR/<path> and the masked kernel sysctls (node.sh,
# node2.sh).
mount_node_namespace() {
  local hostdata=$1 fstype dir opts keep o x subs d s
  # `ip netns exec` mounts a fresh /sys, which hides the cgroup mounts: mount the
  # host's hierarchies (same v1 controllers, plus the unified cgroup2) again.
  mount -t tmpfs -o mode=755,nosuid,nodev,noexec cgroup-root /sys/fs/cgroup
  while read -r fstype dir opts; do
    mkdir -p "$dir"
    if [ "$fstype" = cgroup2 ]; then
      mount -t cgroup2 cgroup2 "$dir"
      continue
    fi
    keep=()
    IFS=, read -ra o <<<"$opts"
    for x in "${o[@]}"; do
      case $x in rw|ro|relatime|noatime|nosuid|nodev|noexec) ;; *) keep+=("$x") ;; esac
    done
    subs=$(IFS=,; echo "${keep[*]}")
    [[ "$subs" == name=* && "$subs" != *,* ]] && subs="none,$subs" # a named hierarchy without controllers
    mount -t cgroup -o "$subs" cgroup "$dir"
  done <"$DATA/cgroup-mounts"
  # Hard-coded host paths get folders of our own (see HOST_BIND_DIRS).
  for d in "${HOST_BIND_DIRS[@]}"; do mount --bind "$hostdata$d" "$d"; done
  # Kernel-wide sysctls the kubelet would change: it sees its wanted values here.
  for s in "${KUBELET_SYSCTLS[@]}"; do mount --bind "$DATA/sysctl/${s%%=*}" "/proc/sys/${s%%=*}"; done
}

# start_component PIDFILE LOGFILE CMD...: start a daemon in its own session
# (no terminal or job control of the caller reaches it) with its pid in PIDFILE.
# It gets none of the caller's other open files: a lock the caller holds
# (`flock LOCK hack/cluster/up.sh`) would otherwise be held by the daemons
# for as long as the cluster runs.
start_component() {
  local pidfile=$1 logfile=$2; shift 2
  setsid "$@" >>"$logfile" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$pidfile"
}

# wait_healthy WHAT LOGFILE SECONDS CMD...: poll CMD every 0.25 s until it
# succeeds; else print the end of LOGFILE and exit 1.
wait_healthy() {
  local what=$1 logfile=$2 secs=$3 i; shift 3
  for ((i = 0; i < secs * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  log "ERROR: $what not up after ${secs}s; last lines of its log:"
  tail -n 20 "$logfile" >&2 || true
  exit 1
}
