# shellcheck shell=bash disable=SC2034 # settings used by the scripts that source this file
# Settings and helpers of the local single-node cluster. Source it; do not run it.
#
# The cluster is a set of ordinary background processes (no systemd), each with a PID file
# under $HN_RUN/pids and a log under $HN_CLUSTER/logs:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet,
#   kube-proxy; cluster DNS (CoreDNS) runs as a pod from a locally built image.
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

# node_ip is the address the node advertises (the source address of the default route),
# unless HYPERNEST_NODE_IP says otherwise.
node_ip() {
  if [ -n "${HYPERNEST_NODE_IP:-}" ]; then echo "$HYPERNEST_NODE_IP"; return; fi
  ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i=1;i<NF;i++) if ($i=="src") {print $(i+1); exit}}'
}

hn_kubectl() { "$KUBE_BIN_DIR/kubectl" --kubeconfig "$HN_KUBECONFIG" "$@"; }
# ctr warns about cgroup v1 on every call on this host; the warning says nothing new.
hn_ctr() { "$RUNTIME_BIN_DIR/ctr" --address "$HN_CONTAINERD_SOCK" --namespace k8s.io "$@" 2> >(grep -v 'support for cgroup v1 is deprecated' >&2); }
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
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$bin" ]; then
    echo "$pid"
  fi
}

# start_daemon <name> <binary> <args...>: starts the binary in its own session, logging to
# $HN_LOGS/<name>.log, and records its PID.
start_daemon() {
  local name="$1" bin="$2"; shift 2
  mkdir -p "$HN_PIDS" "$HN_LOGS"
  # 9>&-: the daemon must not inherit cluster-up's lock, or it would hold it forever.
  setsid "$bin" "$@" >"$HN_LOGS/$name.log" 2>&1 </dev/null 9>&- &
  echo "$! $bin" > "$HN_PIDS/$name.pid"
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
