# shellcheck shell=bash disable=SC2034 # settings used by the scripts that source this file
# Settings and helpers of the local cluster. Source it; do not run it.
#
# The cluster is a set of ordinary background processes (no systemd), each with a PID file
# under $HN_RUN/pids and a log under $HN_CLUSTER/logs:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet,
#   kube-proxy; cluster DNS (CoreDNS) runs as a pod from a locally built image.
# The first node is the machine itself. Further nodes (make cluster-up NODES=2) each run
# their own containerd, kubelet and kube-proxy in a network and a mount namespace of
# their own (hack/cluster/node-up.sh), as separate machines would.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

HN_CLUSTER="$HYPERNEST_CACHE/cluster"          # persistent: PKI, kubeconfigs, logs, image store
HN_RUN="${HYPERNEST_RUN_DIR:-/run/hypernest}"  # runtime: PID files, sockets (short paths)
HN_PKI="$HN_CLUSTER/pki"
HN_LOGS="$HN_CLUSTER/logs"
HN_PIDS="$HN_RUN/pids"
HN_ETCD_DATA="$HN_CLUSTER/etcd"
HN_CONTAINERD_ROOT="$HN_CLUSTER/containerd"
HN_CONTAINERD_STATE="$HN_RUN/containerd"
HN_CONTAINERD_SOCK="$HN_CONTAINERD_STATE/containerd.sock"
# The standard kubelet root, so node agents (virt-handler's device plugins) find the
# kubelet where every Kubernetes distribution has it.
HN_KUBELET_ROOT=/var/lib/kubelet
HN_CNI_CONF_DIR="$HN_CLUSTER/cni/net.d"
HN_CNI_IPAM_DIR="$HN_CLUSTER/cni/ipam"
HN_IMAGES="$HN_CLUSTER/images"                 # image tarballs imported into containerd
HN_KUBECONFIG="$HN_CLUSTER/admin.kubeconfig"

HN_NODE_NAME="${HYPERNEST_NODE_NAME:-hypernest-node}"
HN_API_PORT="${HYPERNEST_API_PORT:-6443}"
# etcd listens on loopback only; ports off etcd's defaults so a developer's own etcd is
# not in the way.
HN_ETCD_PORT="${HYPERNEST_ETCD_PORT:-12379}"
HN_ETCD_PEER_PORT="${HYPERNEST_ETCD_PEER_PORT:-12380}"
HN_KCM_PORT=10257
HN_SCHEDULER_PORT=10259
HN_KUBELET_PORT=10250
HN_KUBELET_HEALTHZ_PORT=10248
HN_PROXY_METRICS_PORT=10249
HN_PROXY_HEALTHZ_PORT=10256

HN_POD_CIDR=10.244.0.0/16
HN_NODE_POD_CIDR=10.244.0.0/24   # the first /24 kube-controller-manager hands the node
HN_SERVICE_CIDR=10.96.0.0/16
HN_API_SERVICE_IP=10.96.0.1      # first address of the service range: the kubernetes Service
HN_DNS_IP=10.96.0.10
HN_BRIDGE=hn0

HN_PAUSE_IMAGE=localhost/hypernest/pause:v1
HN_COREDNS_IMAGE="localhost/hypernest/coredns:$COREDNS_VERSION"
HN_LOCAL_PATH_IMAGE="localhost/hypernest/local-path-provisioner:$LOCAL_PATH_VERSION"
# Where local-path-provisioner makes the claims' folders; cluster-down empties it, as the
# claims go with etcd's data.
HN_STORAGE_DIR="$HN_CLUSTER/local-path"
# The functional tests' workload (tests/images/testserver), imported by cluster-sync.
HN_TESTSERVER_IMAGE=localhost/hypernest/testserver:devel

# The daemons in start order; cluster-down stops them in reverse.
HN_DAEMONS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

# Further nodes: node k (2, 3, ...) is named $HN_NODE_NAME-k, lives in the network
# namespace of that name and reaches the others over the host bridge $HN_NODES_BRIDGE,
# where it has the address $HN_NODES_NET.k (the host, and so the first node, has .1).
HN_NODES_BRIDGE=hn-nodes
HN_NODES_NET=10.250.0
# The daemons of each further node, in start order ("holder" keeps its namespaces).
HN_NODE_DAEMONS=(holder containerd kubelet kube-proxy)

node_name() { if [ "$1" -eq 1 ]; then echo "$HN_NODE_NAME"; else echo "$HN_NODE_NAME-$1"; fi; }
extra_node_ip() { echo "$HN_NODES_NET.$1"; }
# Where node k keeps its image store and kubelet folder, and its sockets and PID files.
extra_node_dir() { echo "$HN_CLUSTER/nodes/$(node_name "$1")"; }
extra_node_run() { echo "$HN_RUN/nodes/$(node_name "$1")"; }
extra_node_sock() { echo "$(extra_node_run "$1")/containerd/containerd.sock"; }
# extra_nodes: the numbers of the further nodes node-up.sh started and cluster-down has
# not stopped yet (those with a PID file for their namespaces' holder).
extra_nodes() {
  local f k
  for f in "$HN_PIDS"/node-*-holder.pid; do
    [ -f "$f" ] || continue
    k="${f##*/node-}"; echo "${k%-holder.pid}"
  done | sort -n
}

# node_ip is the address the node advertises (the source address of the default route),
# unless HYPERNEST_NODE_IP says otherwise.
node_ip() {
  if [ -n "${HYPERNEST_NODE_IP:-}" ]; then echo "$HYPERNEST_NODE_IP"; return; fi
  ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i=1;i<NF;i++) if ($i=="src") {print $(i+1); exit}}'
}

hn_kubectl() { "$KUBE_BIN_DIR/kubectl" --kubeconfig "$HN_KUBECONFIG" "$@"; }
# ctr warns about cgroup v1 on every call on this host; the warning says nothing new.
hn_ctr() { "$RUNTIME_BIN_DIR/ctr" --address "${HN_CTR_SOCK:-$HN_CONTAINERD_SOCK}" --namespace k8s.io "$@" 2> >(grep -v 'support for cgroup v1 is deprecated' >&2); }
# hn_ctr_all <args>: hn_ctr on every node's containerd (images go to all nodes: nothing
# is pulled from a registry).
# Every node is tried; the status is the first failure's. A further node whose containerd
# has died fails too, rather than being skipped: skipping it would leave that node without
# the image, and its pods would fail later with ErrImageNeverPull, far from the cause.
hn_ctr_all() {
  local k rc=0 s
  hn_ctr "$@" || rc=$?
  for k in $(extra_nodes); do
    if [ -z "$(daemon_pid "node-$k-containerd")" ]; then
      echo "node $(node_name "$k"): its containerd is not running (see $HN_LOGS/node-$k-containerd.log); restart the cluster: make cluster-down, then make cluster-up NODES=<n>" >&2
      [ "$rc" -ne 0 ] || rc=1
      continue
    fi
    HN_CTR_SOCK="$(extra_node_sock "$k")" hn_ctr "$@" && continue
    s=$?; [ "$rc" -ne 0 ] || rc=$s
  done
  return "$rc"
}
# import_image <tarball>: imports an image tarball into every node's containerd.
import_image() {
  hn_ctr_all images import "$1" >/dev/null || die "importing $1 into containerd failed; see $HN_LOGS/containerd.log (or the node's own containerd log)"
}
# crictl reads its endpoints from the file cluster-up writes (without one it warns).
hn_crictl() { "$RUNTIME_BIN_DIR/crictl" --config "$HN_CLUSTER/crictl.yaml" "$@"; }

# image_names <tarball>: the image names an OCI layout tarball (hack/image-builder) carries,
# one per line: what `ctr images import` names the image.
image_names() {
  tar -xOf "$1" index.json | grep -o '"io.containerd.image.name": *"[^"]*"' | sed 's/.*: *"\(.*\)"/\1/'
}

# daemon_pid <name>: the PID of a running daemon of ours, or nothing. The PID file holds
# "<pid> <binary>"; a PID reused by another program does not count.
daemon_pid() {
  local f="$HN_PIDS/$1.pid" pid bin
  [ -f "$f" ] || return 0
  read -r pid bin < "$f" || return 0
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && runs_binary "$pid" "$bin"; then
    echo "$pid"
  fi
}

# runs_binary <pid> <binary>: whether the process runs that binary (a PID reused by
# another program, or a child that has not exec'd yet, does not).
runs_binary() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ]; }

# start_daemon <name> <binary> <args...>: starts the binary in its own session, logging to
# $HN_LOGS/<name>.log, and records its PID. With HN_IN_NODE=<pid of a node's holder> it
# starts it in that node's network and mount namespaces (nsenter execs the binary, so the
# PID is still the daemon's).
start_daemon() {
  local name="$1" bin="$2" enter=()
  shift 2
  mkdir -p "$HN_PIDS" "$HN_LOGS"
  [ -z "${HN_IN_NODE:-}" ] || enter=(nsenter --target "$HN_IN_NODE" --mount --net --)
  # 9>&-: the daemon must not inherit cluster-up's lock, or it would hold it forever.
  setsid "${enter[@]}" "$bin" "$@" >"$HN_LOGS/$name.log" 2>&1 </dev/null 9>&- &
  local pid=$!
  echo "$pid $bin" > "$HN_PIDS/$name.pid"
  # Until setsid (and nsenter) have exec'd the binary, /proc/<pid>/exe is bash's, and
  # daemon_pid would take the daemon for gone: on a loaded machine a wait_for right after
  # this once failed with "containerd exited" while containerd went on to start. Wait
  # for the exec (or the process's end), at most 5 s.
  for _ in $(seq 1 100); do
    ! runs_binary "$pid" "$bin" || break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
}

# stop_daemon <name>: SIGTERM, up to 10 s of grace, then SIGKILL.
stop_daemon() {
  local name="$1" pid
  pid="$(daemon_pid "$name")"
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "  $name (pid $pid) did not stop within 10s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    log "  stopped $name (pid $pid)"
  fi
  rm -f "$HN_PIDS/$name.pid"
}

# etcd_healthy and api_ready: the checks that etcd and kube-apiserver serve (cluster-up
# and restart-daemon.sh wait on them).
etcd_healthy() { curl -sf "http://127.0.0.1:$HN_ETCD_PORT/health" >/dev/null; }
api_ready() { curl -sf --cacert "$HN_PKI/ca.crt" --cert "$HN_PKI/admin.crt" --key "$HN_PKI/admin.key" "https://127.0.0.1:$HN_API_PORT/readyz" | grep -qx ok; }

# wait_for <seconds> <what> <daemon or -> <command...>: polls the command every 0.2 s until
# it succeeds; fails early when the daemon died, showing its log.
wait_for() {
  local timeout="$1" what="$2" daemon="$3"; shift 3
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if [ "$daemon" != "-" ] && [ -z "$(daemon_pid "$daemon")" ]; then
      tail -25 "$HN_LOGS/$daemon.log" >&2 || true
      die "$daemon exited while waiting for $what; its log is $HN_LOGS/$daemon.log"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      if [ "$daemon" = "-" ]; then die "timed out after ${timeout}s waiting for $what"; fi
      tail -25 "$HN_LOGS/$daemon.log" >&2 || true
      die "timed out after ${timeout}s waiting for $what (log: $HN_LOGS/$daemon.log)"
    fi
    sleep 0.2
  done
}

# restart_components <namespace> <kind/name>...: restarts each workload that exists, so
# its pods run the images just imported under the same tag, then waits until each rolled
# out. Prints what it restarted.
restart_components() {
  local ns="$1" c restarted=()
  shift
  for c in "$@"; do
    if hn_kubectl -n "$ns" get "$c" >/dev/null 2>&1; then
      hn_kubectl -n "$ns" rollout restart "$c" >/dev/null
      restarted+=("$c")
    fi
  done
  for c in "${restarted[@]}"; do
    hn_kubectl -n "$ns" rollout status "$c" --timeout=5m >/dev/null \
      || die "$c did not roll out within 5 min; see: hack/kubectl.sh -n $ns describe $c"
  done
  [ ${#restarted[@]} -eq 0 ] || log "  restarted in $ns: ${restarted[*]}"
}

# ---------------------------------------------------------------- node configuration
# What each node runs is configured alike; these write the files for node 1 (up.sh) and
# for further nodes (node-up.sh).

# write_containerd_config <file> <root> <state> <socket> <CNI conf dir>
write_containerd_config() {
  cat > "$1" <<EOF
# Generated by hack/cluster/common.sh. containerd 2.x configuration schema 4.
version = 4
root = "$2"
state = "$3"
[plugins.'io.containerd.server.v1.grpc']
  address = "$4"
[plugins.'io.containerd.server.v1.ttrpc']
  address = "$4.ttrpc"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$HN_PAUSE_IMAGE"
[plugins.'io.containerd.cri.v1.runtime']
  # Some hosts (this project's CI VMs among them) drop CAP_SYS_RESOURCE, so a negative
  # oom_score_adj (the sandbox asks for -998) fails in runc init; clamp it instead.
  restrict_oom_score_adj = true
  # Devices handed to a non-root pod (e.g. /dev/kvm for virt-launcher) are owned by the
  # pod's user, as KubeVirt's non-root launcher needs.
  device_ownership_from_security_context = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "$RUNTIME_BIN_DIR/runc"
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$RUNTIME_BIN_DIR"]
    conf_dir = "$5"
EOF
}

# write_cni_config <CNI conf dir> <IPAM data dir> <the node's pod subnet>: a bridge with
# the node's pod subnet; pods reach other nodes' pods through the node's routes.
write_cni_config() {
  mkdir -p "$1" "$2"
  cat > "$1/10-hypernest.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "hypernest",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$HN_BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$2",
        "ranges": [[{"subnet": "$3"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
}
EOF
}

# write_kubelet_config <file> <containerd socket> [extra YAML lines...]
write_kubelet_config() {
  local file="$1" sock="$2"
  shift 2
  cat > "$file" <<EOF
# Generated by hack/cluster/common.sh.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$sock
cgroupDriver: cgroupfs
# This host still runs cgroup v1 (hybrid); kubelet 1.35+ refuses that unless told.
failCgroupV1: false
failSwapOn: false
port: $HN_KUBELET_PORT
healthzBindAddress: 127.0.0.1
healthzPort: $HN_KUBELET_HEALTHZ_PORT
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $HN_PKI/ca.crt}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [$HN_DNS_IP]
resolvConf: /etc/resolv.conf
maxPods: 110
serializeImagePulls: false
# Images are imported, not pulled: garbage-collecting one would lose it for good.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
# Without CAP_SYS_RESOURCE the kubelet cannot lower its own OOM score below 0.
oomScoreAdj: 0
EOF
  local line
  for line in "$@"; do echo "$line" >> "$file"; done
}

# write_kube_proxy_config <file> <kubeconfig> <node name>
write_kube_proxy_config() {
  cat > "$1" <<EOF
# Generated by hack/cluster/common.sh.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $2}
hostnameOverride: $3
clusterCIDR: $HN_POD_CIDR
mode: iptables
metricsBindAddress: 127.0.0.1:$HN_PROXY_METRICS_PORT
healthzBindAddress: 127.0.0.1:$HN_PROXY_HEALTHZ_PORT
# Leave the host's conntrack sysctls alone (they are not writable on every host).
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# node_ready <name>: the node reports Ready.
node_ready() { [ "$(hn_kubectl get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; }

# stop_node_runtime <daemon name prefix> <crictl config> <containerd socket>: stops a
# node's kubelet (first, so it does not restart the containers removed next), removes
# every pod sandbox through the CRI (which also runs the CNI teardown for each: veth, IP
# address, iptables rules), stops containerd, and ends the shims whose containerd is gone
# with their containers.
stop_node_runtime() {
  local prefix="$1" crictl_config="$2" sock="$3" pods shim child
  stop_daemon "${prefix}kubelet"
  if [ -n "$(daemon_pid "${prefix}containerd")" ]; then
    mapfile -t pods < <("$RUNTIME_BIN_DIR/crictl" --config "$crictl_config" pods -q 2>/dev/null)
    if [ ${#pods[@]} -gt 0 ]; then
      log "  removing ${#pods[@]} pods"
      "$RUNTIME_BIN_DIR/crictl" --config "$crictl_config" stopp "${pods[@]}" >/dev/null 2>&1 || true
      "$RUNTIME_BIN_DIR/crictl" --config "$crictl_config" rmp -f -a >/dev/null 2>&1 || true
    fi
  fi
  stop_daemon "${prefix}containerd"
  for shim in $(pgrep -f "containerd-shim-runc-v2 .*-address $sock" 2>/dev/null); do
    for child in $(pgrep -P "$shim" 2>/dev/null); do kill -KILL "$child" 2>/dev/null || true; done
    kill -KILL "$shim" 2>/dev/null || true
    log "  killed leftover shim $shim"
  done
}

# unmount_below <folder>: unmounts the folder and what is mounted below it, deepest first.
unmount_below() {
  local prefix="$1" m
  awk -v p="$prefix" '$2 == p || index($2, p "/") == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}

# stop_extra_node <k>: stops node k's runtime (stop_node_runtime), its kube-proxy and the
# holder of its namespaces, and removes its network, cgroups and pod state. Its image
# store and certificates stay for the next cluster-up.
stop_extra_node() {
  local k="$1" name dir hierarchy
  name="$(node_name "$k")"; dir="$(extra_node_dir "$k")"
  stop_node_runtime "node-$k-" "$dir/crictl.yaml" "$(extra_node_sock "$k")"
  stop_daemon "node-$k-kube-proxy"
  # The mount namespace, and every mount the node's pods made in it, ends with its
  # last process.
  stop_daemon "node-$k-holder"
  ip netns del "$name" 2>/dev/null || true
  ip link del "hn-node-$k" 2>/dev/null || true
  # Pod cgroups, deepest first (each is empty once its processes are gone).
  for hierarchy in /sys/fs/cgroup/*/; do
    [ -d "$hierarchy$name" ] || continue
    find "$hierarchy$name" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -rf "$dir/kubelet" "$dir/cni" "$(extra_node_run "$k")"
}
