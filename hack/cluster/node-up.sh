#!/usr/bin/env bash
# Adds node <k> (2, 3, ...) to the running local cluster (make cluster-up NODES=<n> calls
# it for k = 2..n). The node is a machine of its own as far as Kubernetes can tell: its
# own containerd, kubelet and kube-proxy, in a network namespace with its own address
# ($HN_NODES_NET.k on the host bridge $HN_NODES_BRIDGE), routes, iptables and pod subnet,
# and a mount namespace in which its kubelet's folder is /var/lib/kubelet, where node
# agents such as virt-handler look for it. The control plane is the first node's.
#
#   hack/cluster/node-up.sh <k>
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

k="${1:-}"
[[ "$k" =~ ^[2-9]$ ]] || die "usage: hack/cluster/node-up.sh <k>, k from 2 to 9 (node 1 is the machine itself)"
[ "$(id -u)" -eq 0 ] || die "a node runs a kubelet and containerd, which need root; run as root"
api_ready || die "the local cluster's API is not answering; bring the cluster up first (make cluster-up)"
for tool in unshare nsenter ip sleep; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed; run hack/install-deps.sh (as root)"
done

name="$(node_name "$k")"
ip="$(extra_node_ip "$k")"
dir="$(extra_node_dir "$k")"
run="$(extra_node_run "$k")"
sock="$(extra_node_sock "$k")"
cgroup_root="/$name"
[ -z "$(daemon_pid "node-$k-holder")" ] || die "node $name is already running; stop the cluster first with 'make cluster-down'"
api_address="$(cat "$HN_PKI/node-address")"

log "adding node $name at $ip"
# A failed start leaves nothing of this node behind.
# shellcheck disable=SC2154 # rc is assigned inside the trap
trap 'rc=$?; if [ $rc -ne 0 ]; then log "adding node $name failed; stopping what it started (logs stay in $HN_LOGS)"; stop_extra_node "$k" >/dev/null 2>&1 || true; fi' EXIT

# ---------------------------------------------------------------- network
# The host end of every node's link is on one bridge; the host routes between the nodes
# and to their pod subnets, as a top-of-rack router would.
if ! ip link show "$HN_NODES_BRIDGE" >/dev/null 2>&1; then
  ip link add "$HN_NODES_BRIDGE" type bridge
  ip addr add "$HN_NODES_NET.1/24" dev "$HN_NODES_BRIDGE"
  ip link set "$HN_NODES_BRIDGE" up
fi
ip netns del "$name" 2>/dev/null || true
ip netns add "$name"
ip link del "hn-node-$k" 2>/dev/null || true
ip link add "hn-node-$k" type veth peer name eth0 netns "$name"
ip link set "hn-node-$k" master "$HN_NODES_BRIDGE" up
ip -n "$name" link set lo up
ip -n "$name" addr add "$ip/24" dev eth0
ip -n "$name" link set eth0 up
ip -n "$name" route add default via "$HN_NODES_NET.1"
# The same kernel settings node 1 has (up.sh), in the node's own network namespace.
nsenter --net="/run/netns/$name" sysctl -qw net.ipv4.ip_forward=1
if nsenter --net="/run/netns/$name" test -e /proc/sys/net/bridge/bridge-nf-call-iptables; then
  nsenter --net="/run/netns/$name" sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
fi

# ---------------------------------------------------------------- identity
"$(dirname "${BASH_SOURCE[0]}")/pki.sh" --node "$name" "$ip" "$api_address"

# ---------------------------------------------------------------- namespaces
# A holder process keeps the node's mount namespace (the network one is pinned by ip
# netns); every daemon of the node enters both. The namespace starts as a private copy of
# the host's: node 1's kubelet folder and containers' mounts are unmounted from it (so
# it does not keep them alive), and the node's own kubelet folder is mounted on
# /var/lib/kubelet, shared so that pods' mounts propagate (virt-handler sees the
# launchers' sockets through it).
mkdir -p "$dir/kubelet" "$run" "$HN_PIDS" /var/lib/kubelet
sleep_bin="$(readlink -f "$(command -v sleep)")"
# shellcheck disable=SC2016 # expanded by the holder's shell
setsid unshare --mount --propagation private -- nsenter --net="/run/netns/$name" -- /bin/bash -c '
  set -e
  source "$1"
  for d in /var/lib/kubelet "$HN_CONTAINERD_STATE" "$HN_CONTAINERD_ROOT"; do unmount_below "$d"; done
  mount --bind "$2" /var/lib/kubelet
  mount --make-rshared /var/lib/kubelet
  exec "$3" infinity' \
  _ "$HYPERNEST_ROOT/hack/cluster/common.sh" "$dir/kubelet" "$sleep_bin" >"$HN_LOGS/node-$k-holder.log" 2>&1 </dev/null 9>&- &
holder=$!
for _ in $(seq 1 50); do runs_binary "$holder" "$sleep_bin" && break; sleep 0.1; done
runs_binary "$holder" "$sleep_bin" || die "the namespaces of node $name could not be set up: $(cat "$HN_LOGS/node-$k-holder.log")"
echo "$holder $sleep_bin" > "$HN_PIDS/node-$k-holder.pid"
export HN_IN_NODE="$holder"

# The node's pods get cgroups of their own (below /$name), as on a machine of their own.
for hierarchy in /sys/fs/cgroup/*/; do
  [ -L "${hierarchy%/}" ] && continue
  mkdir -p "$hierarchy$name"
  if [ -f "${hierarchy}cpuset.cpus" ]; then
    cat "${hierarchy}cpuset.cpus" > "$hierarchy$name/cpuset.cpus"
    cat "${hierarchy}cpuset.mems" > "$hierarchy$name/cpuset.mems"
  fi
done

# ---------------------------------------------------------------- containerd
mkdir -p "$dir/containerd" "$run/containerd"
write_containerd_config "$dir/containerd.toml" "$dir/containerd" "$run/containerd" "$sock" "$dir/cni/net.d"
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$sock" "$sock" > "$dir/crictl.yaml"
PATH="$RUNTIME_BIN_DIR:$PATH" start_daemon "node-$k-containerd" "$RUNTIME_BIN_DIR/containerd" --config "$dir/containerd.toml"
HN_CTR_SOCK="$sock" wait_for 30 "node $name's containerd to answer" "node-$k-containerd" hn_ctr version
# Nothing is pulled: the node gets the images node 1 holds (the cluster's own, and
# Hypernest's when cluster-sync ran before).
# (The CRI's digest-only records name the same images again.)
mapfile -t refs < <(hn_ctr images ls -q | grep -v -e '^sha256:' -e '@sha256:')
[ ${#refs[@]} -gt 0 ] || die "node 1's containerd holds no images to copy"
log "  copying ${#refs[@]} images from node 1"
# --local: through containerd's transfer service ctr writes its progress to stdout, into
# the archive.
hn_ctr images export --local - "${refs[@]}" | HN_CTR_SOCK="$sock" hn_ctr images import - >/dev/null \
  || die "copying images into node $name's containerd failed; see $HN_LOGS/node-$k-containerd.log"

# ---------------------------------------------------------------- kubelet + kube-proxy
write_kubelet_config "$dir/kubelet.yaml" "$sock" \
  "tlsCertFile: $dir/kubelet-serving.crt" "tlsPrivateKeyFile: $dir/kubelet-serving.key" \
  "cgroupRoot: $cgroup_root"
start_daemon "node-$k-kubelet" "$KUBE_BIN_DIR/kubelet" --config="$dir/kubelet.yaml" \
  --kubeconfig="$dir/kubelet.kubeconfig" --root-dir=/var/lib/kubelet \
  --hostname-override="$name" --node-ip="$ip" --v=1

# kube-controller-manager hands each node a /24 of the pod range when it registers; the
# node's bridge takes that subnet, and the host routes it to the node.
pod_cidr() { hn_kubectl get node "$name" -o jsonpath='{.spec.podCIDR}' 2>/dev/null | grep -q .; }
wait_for 60 "node $name to register and get a pod subnet" "node-$k-kubelet" pod_cidr
cidr="$(hn_kubectl get node "$name" -o jsonpath='{.spec.podCIDR}')"
write_cni_config "$dir/cni/net.d" "$dir/cni/ipam" "$cidr"
ip route replace "$cidr" via "$ip" dev "$HN_NODES_BRIDGE"

write_kube_proxy_config "$dir/kube-proxy.yaml" "$dir/kube-proxy.kubeconfig" "$name"
start_daemon "node-$k-kube-proxy" "$KUBE_BIN_DIR/kube-proxy" --config="$dir/kube-proxy.yaml"

wait_for 90 "node $name to be Ready" "node-$k-kubelet" node_ready "$name"
trap - EXIT
log "node $name is Ready (pods in $cidr)"
