#!/usr/bin/env bash
# Brings up the local cluster from binaries already in the cache (`make cluster-up`
# builds them first): one node, or NODES=<n> nodes (up to 9; node-up.sh adds each after
# the first). Fails fast, with the reason, when the machine is
# not ready for it: not root, a tool or binary missing, a port taken, a cluster running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# ---------------------------------------------------------------- preflight
[ "$(id -u)" -eq 0 ] || die "the local cluster runs a kubelet and containerd, which need root; run as root"
NODES="${NODES:-1}"
[[ "$NODES" =~ ^[1-9]$ ]] || die "NODES=$NODES: the local cluster has 1 to 9 nodes"

for tool in ip iptables ss openssl mount umount setsid base64 flock; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed; run hack/install-deps.sh (as root)"
done
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
  [ -x "$KUBE_BIN_DIR/$b" ] || die "$b is missing from $KUBE_BIN_DIR; run hack/kube-binaries.sh (or make cluster-up, which builds it)"
done
for b in containerd containerd-shim-runc-v2 ctr crictl runc bridge host-local loopback portmap; do
  [ -x "$RUNTIME_BIN_DIR/$b" ] || die "$b is missing from $RUNTIME_BIN_DIR; run hack/runtime-binaries.sh (or make cluster-up, which builds it)"
done
for img in pause coredns local-path; do
  [ -f "$HN_IMAGES/$img.tar" ] || die "the $img image is missing from $HN_IMAGES; run hack/cluster/images.sh (or make cluster-up)"
done

mkdir -p "$HN_CLUSTER" "$HN_RUN" "$HN_LOGS" "$HN_PIDS"
# One cluster-up/down at a time.
exec 9>"$HN_RUN/lock"
flock -n 9 || die "another cluster-up or cluster-down is running (lock $HN_RUN/lock)"

running=()
for d in "${HN_DAEMONS[@]}"; do
  pid="$(daemon_pid "$d")"
  [ -z "$pid" ] || running+=("$d (pid $pid)")
done
if [ ${#running[@]} -gt 0 ]; then
  die "a Hypernest cluster is already running: ${running[*]}. Use it (KUBECONFIG=$HN_KUBECONFIG), or stop it first with 'make cluster-down'"
fi
if pgrep -x kubelet >/dev/null || pgrep -x containerd >/dev/null; then
  die "another kubelet or containerd runs on this machine (pids $(pgrep -d, -x 'kubelet|containerd')); the local cluster needs the node to itself"
fi

port_in_use() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
for port in "$HN_API_PORT" "$HN_ETCD_PORT" "$HN_ETCD_PEER_PORT" "$HN_KCM_PORT" "$HN_SCHEDULER_PORT" \
            "$HN_KUBELET_PORT" "$HN_KUBELET_HEALTHZ_PORT" "$HN_PROXY_METRICS_PORT" "$HN_PROXY_HEALTHZ_PORT"; do
  if port_in_use "$port"; then
    holder="$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*' | head -1 | sed 's/users:((//')"
    die "port $port is already in use${holder:+ by $holder}; stop that program (the API and etcd ports can be moved with HYPERNEST_API_PORT / HYPERNEST_ETCD_PORT / HYPERNEST_ETCD_PEER_PORT)"
  fi
done

NODE_IP="$(node_ip)"
[ -n "$NODE_IP" ] || die "cannot tell this machine's address (no default route); set HYPERNEST_NODE_IP to an address of this machine"
ip -4 addr show | grep -q "inet $NODE_IP/" || die "HYPERNEST_NODE_IP=$NODE_IP is not an address of this machine"

up_started=$(date +%s.%N)
log "bringing up the local cluster: node $HN_NODE_NAME at $NODE_IP, API https://127.0.0.1:$HN_API_PORT"
# A failed start leaves nothing half-running behind. (Not "$(dirname "${BASH_SOURCE[0]}")":
# after die, the trap runs with hack/common.sh as its source, and that path has no down.sh,
# so a failed cluster-up once left etcd, the apiserver and containerd running.)
# shellcheck disable=SC2154 # rc is assigned inside the trap
trap 'rc=$?; if [ $rc -ne 0 ]; then log "cluster-up failed; stopping what it started (logs stay in $HN_LOGS)"; "$HYPERNEST_ROOT/hack/cluster/down.sh" --quiet >/dev/null 2>&1 || true; fi' EXIT

# ---------------------------------------------------------------- kernel
# Pods on a bridge reach Services (iptables DNAT) only when bridged traffic passes
# iptables, and the node routes between the bridge and its other interfaces.
sysctl -qw net.ipv4.ip_forward=1
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
fi
# /run/netns, where containerd pins the pods' network namespaces, is made a shared mount
# point now, as `ip netns add` makes it: done by node-up.sh's `ip netns add` after pods
# exist, that bind mount would stack over their namespaces' mounts, and containerd could
# never remove them ("remove netns: ... device or resource busy": every pod of node 1
# deleted after a second node came up stayed Terminating).
mkdir -p /run/netns
mountpoint -q /run/netns || mount --bind /run/netns /run/netns
mount --make-shared /run/netns

# ---------------------------------------------------------------- PKI
"$(dirname "${BASH_SOURCE[0]}")/pki.sh" "$NODE_IP"
log "certificates and kubeconfigs ready in $HN_PKI"

# ---------------------------------------------------------------- etcd
# Every cluster-up starts an empty cluster, as a fresh kind or kubevirtci cluster does.
rm -rf "$HN_ETCD_DATA"
start_daemon etcd "$KUBE_BIN_DIR/etcd" --name=hypernest --data-dir="$HN_ETCD_DATA" \
  --listen-client-urls="http://127.0.0.1:$HN_ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$HN_ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$HN_ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$HN_ETCD_PEER_PORT" \
  --initial-cluster="hypernest=http://127.0.0.1:$HN_ETCD_PEER_PORT" --listen-metrics-urls="" --log-level=warn \
  --quota-backend-bytes=$((2 * 1024 * 1024 * 1024))
wait_for 30 "etcd to be healthy" etcd etcd_healthy
log "etcd is healthy on 127.0.0.1:$HN_ETCD_PORT"

# ---------------------------------------------------------------- kube-apiserver
start_daemon kube-apiserver "$KUBE_BIN_DIR/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$HN_ETCD_PORT" \
  --bind-address=0.0.0.0 --secure-port="$HN_API_PORT" --advertise-address="$NODE_IP" \
  --tls-cert-file="$HN_PKI/apiserver.crt" --tls-private-key-file="$HN_PKI/apiserver.key" \
  --client-ca-file="$HN_PKI/ca.crt" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$HN_PKI/sa.pub" --service-account-signing-key-file="$HN_PKI/sa.key" \
  --service-cluster-ip-range="$HN_SERVICE_CIDR" \
  --kubelet-client-certificate="$HN_PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$HN_PKI/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$HN_PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
  --requestheader-client-ca-file="$HN_PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$HN_PKI/front-proxy-client.crt" --proxy-client-key-file="$HN_PKI/front-proxy-client.key" \
  --enable-aggregator-routing=true \
  --allow-privileged=true --profiling=false --cert-dir="$HN_RUN/apiserver-certs"
wait_for 90 "kube-apiserver to be ready" kube-apiserver api_ready
log "kube-apiserver is ready"
# Add-ons go in now, so their pods are scheduled the moment the node registers.
# The apiserver reaches kubelets (logs, exec) as kube-apiserver-kubelet-client.
hn_kubectl create clusterrolebinding hypernest:apiserver-kubelet-client \
  --clusterrole=system:kubelet-api-admin --user=kube-apiserver-kubelet-client >/dev/null
sed -e "s|__DNS_IP__|$HN_DNS_IP|g" -e "s|__COREDNS_IMAGE__|$HN_COREDNS_IMAGE|g" \
  "$(dirname "${BASH_SOURCE[0]}")/manifests/coredns.yaml" | hn_kubectl apply -f - >/dev/null
mkdir -p "$HN_STORAGE_DIR"
sed -e "s|__STORAGE_DIR__|$HN_STORAGE_DIR|g" -e "s|__LOCAL_PATH_IMAGE__|$HN_LOCAL_PATH_IMAGE|g" \
  "$(dirname "${BASH_SOURCE[0]}")/manifests/local-path.yaml" | hn_kubectl apply -f - >/dev/null

start_daemon kube-controller-manager "$KUBE_BIN_DIR/kube-controller-manager" \
  --kubeconfig="$HN_CLUSTER/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$HN_CLUSTER/controller-manager.kubeconfig" \
  --authorization-kubeconfig="$HN_CLUSTER/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$HN_KCM_PORT" \
  --leader-elect=false \
  --service-account-private-key-file="$HN_PKI/sa.key" --root-ca-file="$HN_PKI/ca.crt" \
  --use-service-account-credentials=true \
  --cluster-signing-cert-file="$HN_PKI/ca.crt" --cluster-signing-key-file="$HN_PKI/ca.key" \
  --allocate-node-cidrs=true --cluster-cidr="$HN_POD_CIDR" --node-cidr-mask-size=24 \
  --service-cluster-ip-range="$HN_SERVICE_CIDR" \
  --requestheader-client-ca-file="$HN_PKI/front-proxy-ca.crt" \
  --cert-dir="$HN_RUN/kcm-certs"
start_daemon kube-scheduler "$KUBE_BIN_DIR/kube-scheduler" \
  --kubeconfig="$HN_CLUSTER/scheduler.kubeconfig" \
  --authentication-kubeconfig="$HN_CLUSTER/scheduler.kubeconfig" \
  --authorization-kubeconfig="$HN_CLUSTER/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --secure-port="$HN_SCHEDULER_PORT" --leader-elect=false
log "kube-controller-manager and kube-scheduler started"

# ---------------------------------------------------------------- containerd
mkdir -p "$HN_CONTAINERD_ROOT" "$HN_CONTAINERD_STATE"
write_containerd_config "$HN_CLUSTER/containerd.toml" "$HN_CONTAINERD_ROOT" "$HN_CONTAINERD_STATE" "$HN_CONTAINERD_SOCK" "$HN_CNI_CONF_DIR"
# The first node to register gets the first /24 of the pod range.
write_cni_config "$HN_CNI_CONF_DIR" "$HN_CNI_IPAM_DIR" "$HN_NODE_POD_CIDR"
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' \
  "$HN_CONTAINERD_SOCK" "$HN_CONTAINERD_SOCK" > "$HN_CLUSTER/crictl.yaml"
# The shim and runc are found through PATH.
PATH="$RUNTIME_BIN_DIR:$PATH" start_daemon containerd "$RUNTIME_BIN_DIR/containerd" --config "$HN_CLUSTER/containerd.toml"
wait_for 30 "containerd to answer" containerd hn_ctr version
for img in pause coredns local-path; do
  ref="$(image_names "$HN_IMAGES/$img.tar" | head -1)"
  if ! hn_ctr images ls -q | grep -qx "$ref"; then
    hn_ctr images import "$HN_IMAGES/$img.tar" >/dev/null || die "importing $HN_IMAGES/$img.tar into containerd failed"
  fi
done
log "containerd is up with the pause, CoreDNS and local-path-provisioner images"

# ---------------------------------------------------------------- kubelet + kube-proxy
mkdir -p "$HN_KUBELET_ROOT"
touch "$HN_KUBELET_ROOT/.hypernest"   # lets cluster-down know it may remove this folder
write_kubelet_config "$HN_CLUSTER/kubelet.yaml" "$HN_CONTAINERD_SOCK" \
  "tlsCertFile: $HN_PKI/kubelet-serving.crt" "tlsPrivateKeyFile: $HN_PKI/kubelet-serving.key"
start_daemon kubelet "$KUBE_BIN_DIR/kubelet" --config="$HN_CLUSTER/kubelet.yaml" \
  --kubeconfig="$HN_CLUSTER/kubelet.kubeconfig" --root-dir="$HN_KUBELET_ROOT" \
  --hostname-override="$HN_NODE_NAME" --node-ip="$NODE_IP" --v=1

write_kube_proxy_config "$HN_CLUSTER/kube-proxy.yaml" "$HN_CLUSTER/kube-proxy.kubeconfig" "$HN_NODE_NAME"
start_daemon kube-proxy "$KUBE_BIN_DIR/kube-proxy" --config="$HN_CLUSTER/kube-proxy.yaml"

wait_for 60 "node $HN_NODE_NAME to be Ready" kubelet node_ready "$HN_NODE_NAME"
node_ready_at=$(date +%s.%N)
log "node $HN_NODE_NAME is Ready"
for k in $(seq 2 "$NODES"); do
  "$(dirname "${BASH_SOURCE[0]}")/node-up.sh" "$k"
done

# ---------------------------------------------------------------- add-ons
dns_ready() { [ "$(hn_kubectl -n kube-system get deployment coredns -o jsonpath='{.status.availableReplicas}')" = 1 ]; }
wait_for 90 "cluster DNS (CoreDNS) to be available" - dns_ready
default_sa() { hn_kubectl -n default get serviceaccount default; }
wait_for 30 "the default service account" kube-controller-manager default_sa
log "cluster DNS is available at $HN_DNS_IP"
storage_ready() { [ "$(hn_kubectl -n local-path-storage get deployment local-path-provisioner -o jsonpath='{.status.availableReplicas}')" = 1 ]; }
wait_for 90 "the storage provisioner (local-path-provisioner)" - storage_ready
log "the default StorageClass local-path keeps claims in $HN_STORAGE_DIR"

trap - EXIT
# For make bench: seconds from the start of this script to node Ready and to the end.
printf 'node_ready=%s\nall_ready=%s\n' \
  "$(awk -v a="$up_started" -v b="$node_ready_at" 'BEGIN{printf "%.2f", b-a}')" \
  "$(awk -v a="$up_started" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')" > "$HN_LOGS/up-timings"
log "the local cluster is up. Use it with:"
echo "  export KUBECONFIG=$HN_KUBECONFIG    # or: hack/kubectl.sh get nodes" >&2
