#!/usr/bin/env bash
# Takes node <k> (2, 3, ...) of the running local cluster away as a failed machine goes:
# its link is cut first, so nothing of the node reaches the API again (no node status
# from its kubelet, no heartbeat or last VMI status from its virt-handler), then every
# process of the node stops (kubelet, containerd, kube-proxy, the pods and their guests)
# and its namespaces, network and pod state go. The Node object and the pods bound to it
# stay in the API, as after a power loss; the node failure test declares the node out of
# service, as an administrator would (Kubernetes' non-graceful node shutdown). make
# cluster-down, or node-up.sh <k>, starts from here.
#
#   hack/cluster/node-down.sh <k | node name>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

k="${1:-}"
[[ "$k" =~ ^$HN_NODE_NAME-([2-9])$ ]] && k="${BASH_REMATCH[1]}"
[[ "$k" =~ ^[2-9]$ ]] || die "usage: hack/cluster/node-down.sh <k>, k from 2 to 9, or the node's name ($HN_NODE_NAME-<k>); node 1 is the machine itself and holds the control plane"
[ "$(id -u)" -eq 0 ] || die "stopping a node's kubelet and containerd needs root, as starting them did"
[ -n "$(daemon_pid "node-$k-holder")" ] || die "node $(node_name "$k") is not running (hack/cluster/node-up.sh $k adds it)"

log "node $(node_name "$k") fails: its link goes, then everything it ran"
ip link del "hn-node-$k" 2>/dev/null || true
stop_extra_node "$k"
log "node $(node_name "$k") is down; its Node object and pods stay in the API"
