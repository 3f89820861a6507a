#!/usr/bin/env bash
# Stops exactly what cluster-up started (by PID file), removes the pods' containers and
# network state, unmounts what they mounted and deletes the cluster's etcd data, so the
# next cluster-up starts clean. Running it when nothing is up is not an error.
# The image store, certificates and logs stay in $HN_CLUSTER for the next cluster-up.
#
#   hack/cluster/down.sh [--quiet]
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ "${1:-}" = "--quiet" ] && log() { :; }

[ "$(id -u)" -eq 0 ] || die "stopping the local cluster needs root, as starting it did"
mkdir -p "$HN_RUN"
exec 9>"$HN_RUN/lock"
# cluster-up's own failure path calls us while holding the lock: its fd 9 is inherited.
flock -n 9 || [ "${1:-}" = "--quiet" ] || die "another cluster-up or cluster-down is running (lock $HN_RUN/lock)"

anything=0
for d in "${HN_DAEMONS[@]}"; do [ -z "$(daemon_pid "$d")" ] || anything=1; done
mapfile -t extra < <(extra_nodes)
[ ${#extra[@]} -eq 0 ] || anything=1
[ "$anything" -eq 1 ] && log "stopping the local cluster"

# Further nodes first (make cluster-up NODES=n), while the control plane still runs.
for k in "${extra[@]}"; do
  stop_extra_node "$k"
  log "  stopped node $(node_name "$k")"
done
if ip link show "$HN_NODES_BRIDGE" >/dev/null 2>&1; then
  ip link delete "$HN_NODES_BRIDGE" 2>/dev/null && log "  deleted bridge $HN_NODES_BRIDGE"
fi

stop_node_runtime "" "$HN_CLUSTER/crictl.yaml" "$HN_CONTAINERD_SOCK"

# The control plane stops in parallel, then etcd: an apiserver whose etcd is gone hangs
# in its graceful shutdown.
proxy_ran="$(daemon_pid kube-proxy)"
for d in kube-proxy kube-scheduler kube-controller-manager kube-apiserver; do stop_daemon "$d" & done
wait
stop_daemon etcd
if [ -n "$proxy_ran" ]; then
  # Remove the Service rules kube-proxy programmed,
  "$KUBE_BIN_DIR/kube-proxy" --cleanup >/dev/null 2>&1 || true
  # and the kubelet's own chains (canaries and the localnet firewall) with the jumps to them.
  for cmd in iptables ip6tables; do
    for table in mangle nat filter; do
      for chain in KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT KUBE-FIREWALL; do
        "$cmd" -t "$table" -S 2>/dev/null | grep -E "^-A [A-Z]+ .*-j $chain\$" | sed 's/^-A/-D/' | while read -r rule; do
          # shellcheck disable=SC2086 # the rule is a list of arguments
          "$cmd" -t "$table" $rule 2>/dev/null || true
        done
        "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
        "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
fi

# Unmount what pods and containers mounted below the cluster's folders.
if [ -f "$HN_KUBELET_ROOT/.hypernest" ]; then
  unmount_below "$HN_KUBELET_ROOT"
  rm -rf "$HN_KUBELET_ROOT"
fi
unmount_below "$HN_CONTAINERD_STATE"
unmount_below "$HN_CONTAINERD_ROOT"

# Network state the cluster created: the bridge, the pods' address leases.
if ip link show "$HN_BRIDGE" >/dev/null 2>&1; then
  ip link delete "$HN_BRIDGE" 2>/dev/null && log "  deleted bridge $HN_BRIDGE"
fi
rm -rf "$HN_CNI_IPAM_DIR" "$HN_ETCD_DATA" "$HN_STORAGE_DIR" "$HN_CONTAINERD_STATE" "$HN_RUN/apiserver-certs" "$HN_RUN/kcm-certs"
rm -f "$HN_PIDS"/*.pid

[ "$anything" -eq 1 ] && log "the local cluster is down" || log "no local cluster was running"
exit 0
