#!/usr/bin/env bash
# Says what of goray's e2e test cluster runs. Exit 0 when every component of
# both nodes runs and both nodes are Ready, 1 otherwise.
#
#   hack/cluster/status.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
K8S_BIN=${K8S_BIN:-$CACHE/k8s/${K8S_VERSION:-v1.37.2}}

ok=1
echo "state:      $STATE"
if netns_exists; then echo "netns:      $NETNS (node $NODE_IP, host side $HOST_IP)"; else echo "netns:      absent"; ok=0; fi
for c in "${COMPONENTS[@]}"; do
  if pid_alive "$c"; then
    printf '%-24s running (pid %s)\n' "$c:" "$(cat "$RUN/$c.pid")"
  else
    printf '%-24s not running\n' "$c:"; ok=0
  fi
done
if netns2_exists; then echo "netns 2:    $NETNS2 (node 2 $NODE2_IP)"; else echo "netns 2:    absent"; ok=0; fi
for c in "${COMPONENTS2[@]}"; do
  if pid_alive "node2/$c"; then
    printf '%-24s running (pid %s)\n' "node2 $c:" "$(cat "$RUN2/$c.pid")"
  else
    printf '%-24s not running\n' "node2 $c:"; ok=0
  fi
done
if [ "$ok" = 1 ] && kc get --raw /readyz >/dev/null 2>&1; then
  echo "kubeconfig: $KUBECONFIG_ADMIN"
  kc get nodes -o wide 2>/dev/null | sed 's/^/  /'
  kc get pods -A -o wide 2>/dev/null | sed 's/^/  /'
  kc wait --for=condition=Ready "node/$NODE_NAME" "node/$NODE2_NAME" --timeout=1s >/dev/null 2>&1 || ok=0
else
  ok=0
fi
[ "$ok" = 1 ] && echo "cluster: up" || echo "cluster: down or incomplete"
[ "$ok" = 1 ]
