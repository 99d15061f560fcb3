#!/usr/bin/env bash
# Kueue (sigs.k8s.io/kueue) in the test cluster, built from the Go module
# proxy and installed from the module's own manifests (config/default,
# rendered with kubectl's kustomize), no Docker, no registry.
#
#   hack/cluster/kueue.sh install    # build (cached), pack, import, apply, wait Ready (idempotent)
#   hack/cluster/kueue.sh uninstall  # delete Kueue's objects, webhooks, CRDs, namespace (idempotent)
#   hack/cluster/kueue.sh image      # only build, pack and import goray/kueue:<version>
#   hack/cluster/kueue.sh manifests  # print what install applies
#
# Settings (environment):
#   KUEUE_VERSION      module version (default v0.17.0)
#   KUEUE_NAMESPACES   space-separated namespaces: Kueue's RayJob/RayCluster
#                      webhooks only act there (default: every namespace but
#                      kube-system and kueue-system). The e2e scenario names its
#                      own, so that a run killed before its cleanup leaves no
#                      webhook in the way of other namespaces' RayClusters.
#
# What is built and where:
#   binary   `go install sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION` (CGO off)
#            cached as $CACHE/tools/kueue-$KUEUE_VERSION (~8 min on 2 cores, once)
#   image    goray/kueue:$KUEUE_VERSION, the binary as /manager (hack/images),
#            $STATE/images/kueue/kueue-$KUEUE_VERSION.tar (outside
#            $STATE/images/*.tar, which node2-up.sh --all-images imports)
#
# What install changes from Kueue's config/default (a kustomize overlay on a
# copy of the module's config/ folder):
#   - the image, imagePullPolicy IfNotPresent, smaller requests (cpu 100m);
#   - the Configuration: integrations.frameworks ray.io/rayjob and
#     ray.io/raycluster only; internalCertManagement on (Kueue makes its CA and
#     serving certificate, stores them in the Secret kueue-webhook-server-cert
#     and writes the caBundle into its webhook configurations and CRDs);
#   - no visibility API server (--feature-gates=VisibilityOnDemand=false, its
#     APIServices, Service and kube-system RoleBinding left out);
#   - only the webhooks of the enabled frameworks and of Kueue's own kinds
#     (the others would send every Pod, Deployment, Job... of the cluster
#     through Kueue while it is installed).
# The kube-apiserver calls the webhook at its Service's ClusterIP from the
# first node's network namespace, where kube-proxy's rules translate it to
# the pod's address. That namespace has no default route, so the connect
# fails (network is unreachable) before those rules are reached: install adds
# a route for the service range there ($SERVICE_CIDR on the node's veth,
# marked proto 188), uninstall removes it. up.sh does not add it yet.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VERSION=${KUEUE_VERSION:-v0.17.0}
IMAGE=goray/kueue:$VERSION
BINARY=$CACHE/tools/kueue-$VERSION
TARBALL=$IMAGES/kueue/kueue-$VERSION.tar
KUEUE_NS=kueue-system

kueue_module_dir() {
  local d
  d=$(mktemp -d)
  (cd "$d" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kueue@$VERSION") |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
  rmdir "$d"
}

build_binary() {
  [ -x "$BINARY" ] && return 0
  log "building kueue $VERSION (go install from the module proxy, cached in $BINARY)"
  local tmp
  tmp=$(mktemp -d)
  # The flags stay the same from version to version: a warm Go build cache
  # then only relinks.
  (cd "$tmp" && GOBIN=$tmp GOFLAGS=-mod=mod CGO_ENABLED=0 go install \
    -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$VERSION" \
    "sigs.k8s.io/kueue/cmd/kueue@$VERSION") || { rm -rf "$tmp"; die "go install sigs.k8s.io/kueue/cmd/kueue@$VERSION failed"; }
  mkdir -p "$(dirname "$BINARY")"
  mv "$tmp/kueue" "$BINARY"
  rm -rf "$tmp"
}

pack_image() {
  build_binary
  local packer=$STATE/bin/goray-images
  if [ ! -x "$packer" ]; then
    mkdir -p "$STATE/bin"
    (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$packer" ./hack/images)
  fi
  if [ ! -f "$TARBALL" ] || [ "$BINARY" -nt "$TARBALL" ] || [ "$packer" -nt "$TARBALL" ]; then
    mkdir -p "$(dirname "$TARBALL")"
    "$packer" -o "$TARBALL" -t "$IMAGE" -entrypoint /manager "$BINARY=/manager" >/dev/null
    log "packed $IMAGE ($TARBALL)"
  fi
}

import() {
  pack_image
  import_image "$TARBALL"
  log "imported $IMAGE into the cluster's containerd (every node)"
}

# render prints the manifests: Kueue's config/default with the overlay above.
render() {
  local mod tmp kept
  mod=$(kueue_module_dir)
  [ -d "$mod/config/default" ] || die "sigs.k8s.io/kueue@$VERSION: no config/default in the module ($mod)"
  tmp=$(mktemp -d)
  # kustomize wants the bases under the overlay's folder: a writable copy.
  cp -r "$mod/config" "$tmp/kueue-config" && chmod -R u+w "$tmp/kueue-config"
  cat >"$tmp/controller_manager_config.yaml" <<'EOF'
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
health:
  healthProbeBindAddress: :8081
metrics:
  bindAddress: :8443
webhook:
  port: 9443
leaderElection:
  leaderElect: true
  resourceName: c1f6bfd2.kueue.x-k8s.io
internalCertManagement:
  enable: true
integrations:
  frameworks:
  - ray.io/rayjob
  - ray.io/raycluster
EOF
  # Webhooks to keep: the enabled frameworks' and Kueue's own kinds'.
  kept='^[mv](rayjob|raycluster|clusterqueue|cohort|resourceflavor|workload)\.kb\.io$'
  local selector=""
  if [ -n "${KUEUE_NAMESPACES:-}" ]; then
    selector="      namespaceSelector:
        matchExpressions:
        - key: kubernetes.io/metadata.name
          operator: In
          values: [$(echo "$KUEUE_NAMESPACES" | xargs | sed 's/ /, /g')]"
  fi
  {
    cat <<EOF
resources:
- kueue-config/default
images:
- name: us-central1-docker.pkg.dev/k8s-staging-images/kueue/kueue
  newName: ${IMAGE%:*}
  newTag: ${IMAGE##*:}
configMapGenerator:
- name: kueue-manager-config
  namespace: $KUEUE_NS
  behavior: replace
  files:
  - controller_manager_config.yaml
generatorOptions:
  disableNameSuffixHash: true
patches:
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: kueue-controller-manager
      namespace: $KUEUE_NS
    spec:
      template:
        spec:
          containers:
          - name: manager
            imagePullPolicy: IfNotPresent
            args:
            - --config=/controller_manager_config.yaml
            - --zap-log-level=2
            - --feature-gates=VisibilityOnDemand=false
            resources:
              requests: {cpu: 100m, memory: 256Mi}
              limits: {cpu: "1", memory: 512Mi}
EOF
    for o in "apiregistration.k8s.io/v1 APIService v1beta1.visibility.kueue.x-k8s.io -" \
      "apiregistration.k8s.io/v1 APIService v1beta2.visibility.kueue.x-k8s.io -" \
      "v1 Service kueue-visibility-server $KUEUE_NS" \
      "rbac.authorization.k8s.io/v1 RoleBinding kueue-visibility-server-auth-reader kube-system"; do
      read -r api kind name ns <<<"$o"
      printf -- '- patch: |-\n    $patch: delete\n    apiVersion: %s\n    kind: %s\n    metadata:\n      name: %s\n' "$api" "$kind" "$name"
      [ "$ns" = - ] || printf '      namespace: %s\n' "$ns"
    done
    for kind in MutatingWebhookConfiguration ValidatingWebhookConfiguration; do
      local prefix=v name
      [ "$kind" = MutatingWebhookConfiguration ] && prefix=m
      printf -- '- patch: |-\n    apiVersion: admissionregistration.k8s.io/v1\n    kind: %s\n    metadata:\n      name: kueue-%s-webhook-configuration\n    webhooks:\n' \
        "$kind" "$([ $prefix = m ] && echo mutating || echo validating)"
      for name in $(sed -n 's/^  name: \([mv][a-z]*\.kb\.io\)$/\1/p' "$mod/config/components/webhook/manifests.yaml"); do
        [ "${name:0:1}" = "$prefix" ] || continue
        if [[ $name =~ $kept ]]; then
          if [ -n "$selector" ] && [[ $name =~ ^[mv](rayjob|raycluster)\. ]]; then
            printf '    - name: %s\n%s\n' "$name" "$selector"
          fi
        else
          printf '    - name: %s\n      $patch: delete\n' "$name"
        fi
      done
    done
  } >"$tmp/kustomization.yaml"
  "$K8S_BIN/kubectl" kustomize "$tmp"
  rm -rf "$tmp"
}

wait_ready() {
  if ! kc -n "$KUEUE_NS" rollout status deployment/kueue-controller-manager --timeout=180s >&2; then
    kc -n "$KUEUE_NS" get pods -o wide >&2 || true
    kc -n "$KUEUE_NS" logs deployment/kueue-controller-manager --tail=50 >&2 || true
    die "Kueue's controller-manager did not become Ready"
  fi
  # Ready means the webhook server serves with its certificate; the
  # apiserver can call it once the Service has the pod as its endpoint and
  # Kueue wrote its CA into the configurations: a server-side dry run of a
  # ResourceFlavor goes through Kueue's mutating and validating webhooks.
  local out=""
  for _ in $(seq 60); do
    if out=$(printf 'apiVersion: kueue.x-k8s.io/v1beta2\nkind: ResourceFlavor\nmetadata:\n  name: kueue-sh-probe\n' |
      kc create --dry-run=server -f - 2>&1); then
      return 0
    fi
    sleep 1
  done
  die "the apiserver cannot call Kueue's webhook after 60 s: $out"
}

# seed_certificate puts a CA and a serving certificate into the Secret
# kueue-webhook-server-cert before the pod starts, made as Kueue's internal
# certificate manager (open-policy-agent/cert-controller) makes them and
# accepts them: the CA an RSA key in PKCS#1 with the DNS name kueue-ca, the
# serving certificate for kueue-webhook-service.kueue-system.svc with
# serverAuth. Kueue keeps valid certificates ("no cert refresh needed"), and
# the pod's Secret volume has them from the start: otherwise Kueue writes the
# Secret after the pod started and waits until the kubelet's periodic sync
# (up to a minute) refreshes the volume. Kueue still injects the CA into its
# webhook configurations and CRDs, and rotates as usual.
seed_certificate() {
  if [ -n "$(kc -n "$KUEUE_NS" get secret kueue-webhook-server-cert -o jsonpath='{.data.tls\.crt}' 2>/dev/null)" ]; then
    return 0
  fi
  local d dns=kueue-webhook-service.$KUEUE_NS.svc
  d=$(mktemp -d)
  openssl genrsa -traditional -out "$d/ca.key" 2048 2>/dev/null
  openssl req -x509 -new -key "$d/ca.key" -days 3650 -subj "/O=kueue/CN=kueue-ca" \
    -addext "subjectAltName=DNS:kueue-ca" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign" -out "$d/ca.crt" 2>/dev/null
  openssl genrsa -traditional -out "$d/tls.key" 2048 2>/dev/null
  openssl req -new -key "$d/tls.key" -subj "/CN=$dns" -out "$d/tls.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$dns" >"$d/ext"
  openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
    -extfile "$d/ext" -out "$d/tls.crt" 2>/dev/null
  kc get namespace "$KUEUE_NS" >/dev/null 2>&1 || kc create namespace "$KUEUE_NS" >/dev/null
  kc -n "$KUEUE_NS" delete secret kueue-webhook-server-cert --ignore-not-found >/dev/null
  kc -n "$KUEUE_NS" create secret generic kueue-webhook-server-cert --from-file="$d/ca.crt" \
    --from-file="$d/ca.key" --from-file="$d/tls.crt" --from-file="$d/tls.key" >/dev/null
  rm -rf "$d"
}

# The route for the service range in the first node's namespace (see the
# top); one that is there already, without our mark, is left alone.
ROUTE_PROTO=188
add_service_route() {
  [ -n "$(ip -n "$NETNS" route show "$SERVICE_CIDR")" ] && return 0
  ip -n "$NETNS" route add "$SERVICE_CIDR" dev "$VETH_NODE" src "$NODE_IP" proto "$ROUTE_PROTO"
  log "route $SERVICE_CIDR dev $VETH_NODE added in $NETNS (the apiserver reaches webhook Services)"
}
remove_service_route() {
  netns_exists || return 0
  if [ -n "$(ip -n "$NETNS" route show "$SERVICE_CIDR" proto "$ROUTE_PROTO")" ]; then
    ip -n "$NETNS" route del "$SERVICE_CIDR" proto "$ROUTE_PROTO"
  fi
}

install() {
  [ "$(id -u)" = 0 ] || die "must run as root (the route in the node's network namespace)"
  add_service_route
  import
  local manifests
  manifests=$(mktemp)
  render >"$manifests"
  seed_certificate
  kc apply --server-side --force-conflicts -f "$manifests" >/dev/null
  rm -f "$manifests"
  log "applied Kueue $VERSION's manifests (namespace $KUEUE_NS)"
  wait_ready
  log "Kueue $VERSION ready"
}

# Kueue's kinds, deleted while its controller still runs to take their
# finalizers off (a Workload in use keeps one).
KUEUE_KINDS=workloads.kueue.x-k8s.io,localqueues.kueue.x-k8s.io,clusterqueues.kueue.x-k8s.io,cohorts.kueue.x-k8s.io,resourceflavors.kueue.x-k8s.io,workloadpriorityclasses.kueue.x-k8s.io,admissionchecks.kueue.x-k8s.io,topologies.kueue.x-k8s.io

uninstall() {
  kc delete mutatingwebhookconfiguration kueue-mutating-webhook-configuration --ignore-not-found >/dev/null
  kc delete validatingwebhookconfiguration kueue-validating-webhook-configuration --ignore-not-found >/dev/null
  if kc get crd clusterqueues.kueue.x-k8s.io >/dev/null 2>&1; then
    if ! kc delete "$KUEUE_KINDS" --all -A --ignore-not-found --wait=true --timeout=60s >/dev/null; then
      log "Kueue's objects still have finalizers after 60 s: removing them"
      local r o
      for r in ${KUEUE_KINDS//,/ }; do
        for o in $(kc get "$r" -A -o go-template='{{range .items}}{{.metadata.name}}@{{or .metadata.namespace ""}} {{end}}'); do
          local ns=${o#*@}
          kc patch "$r" "${o%@*}" ${ns:+-n "$ns"} --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null || true
        done
      done
    fi
  fi
  # Everything Kueue's config/default makes carries app.kubernetes.io/name=kueue;
  # the namespaced objects go with the namespace.
  kc delete namespace "$KUEUE_NS" --ignore-not-found --wait=true --timeout=120s >/dev/null
  kc delete customresourcedefinitions,clusterroles,clusterrolebindings -l app.kubernetes.io/name=kueue \
    --ignore-not-found --wait=true --timeout=120s >/dev/null
  remove_service_route
  log "Kueue $VERSION uninstalled"
}

K8S_BIN=$("$REPO/hack/control-plane.sh" kubectl)
case ${1:-install} in
  install) install ;;
  uninstall) uninstall ;;
  image) import ;;
  manifests) render ;;
  *) die "unknown command $1 (want install, uninstall, image, manifests)" ;;
esac
