#!/usr/bin/env bash
# Creates the local cluster's certificates and kubeconfigs with openssl (EC P-256 keys,
# fast to generate). Existing files are kept; the serving certificates are made again
# when the node's address changed, because their SANs name it.
#
#   hack/cluster/pki.sh <node-ip>
#   hack/cluster/pki.sh --node <name> <node-ip> <API address>   (a further node's kubelet
#     and kube-proxy identities, and kubeconfigs that reach the API at <API address>,
#     into $HN_CLUSTER/nodes/<name>; needs the CA the first form made)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

extra_node=""
if [ "${1:-}" = "--node" ]; then
  extra_node="$2"; node_address="$3"; api_address="$4"
  [ -f "$HN_PKI/ca.key" ] || die "the cluster CA is missing from $HN_PKI; bring the cluster up first (make cluster-up)"
else
  node_address="$1"
fi
mkdir -p "$HN_PKI"
cd "$HN_PKI"

# Ten years: the cluster is for development; rotation is not what it tests.
DAYS=3650

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; chmod 600 "$1"; }

# new_ca <name> <common name>
new_ca() {
  [ -f "$1.crt" ] && return 0
  new_key "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.crt" -days "$DAYS" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# new_cert <name> <subject> <ca> <clientAuth|serverAuth|both> [subjectAltName]
new_cert() {
  local name="$1" subject="$2" ca="$3" usage="$4" san="${5:-}" eku
  case "$usage" in
    client) eku=clientAuth ;;
    server) eku=serverAuth ;;
    both) eku=serverAuth,clientAuth ;;
  esac
  new_key "$name.key"
  openssl req -new -key "$name.key" -out "$name.csr" -subj "$subject" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
    -out "$name.crt" -days "$DAYS" -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

# kubeconfig <file> <cert name> [API address]: a kubeconfig for one identity,
# certificates embedded.
kubeconfig() {
  umask 077
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: hypernest
  cluster:
    server: https://${3:-127.0.0.1}:$HN_API_PORT
    certificate-authority-data: $(base64 -w0 "$HN_PKI/ca.crt")
users:
- name: ${2##*/}
  user:
    client-certificate-data: $(base64 -w0 "$2.crt")
    client-key-data: $(base64 -w0 "$2.key")
contexts:
- name: hypernest
  context: {cluster: hypernest, user: ${2##*/}}
current-context: hypernest
EOF
}

if [ -n "$extra_node" ]; then
  # The node's own identity (the Node authorizer and NodeRestriction admit a kubelet to
  # its own Node object only) and serving certificate; kube-proxy's is shared.
  dir="$HN_CLUSTER/nodes/$extra_node"
  mkdir -p "$dir"
  if [ "$(cat "$dir/node-address" 2>/dev/null)" != "$node_address" ] || [ ! -f "$dir/kubelet-serving.crt" ]; then
    new_cert "$dir/kubelet" "/O=system:nodes/CN=system:node:$extra_node" ca client
    new_cert "$dir/kubelet-serving" "/CN=system:node:$extra_node" ca server "IP:$node_address,IP:127.0.0.1,DNS:$extra_node"
    echo "$node_address" > "$dir/node-address"
  fi
  kubeconfig "$dir/kubelet.kubeconfig" "$dir/kubelet" "$api_address"
  kubeconfig "$dir/kube-proxy.kubeconfig" kube-proxy "$api_address"
  exit 0
fi

new_ca ca "hypernest-cluster-ca"
# The aggregation layer (virt-api's subresources) authenticates the apiserver's proxied
# requests with a separate CA, as kubeadm sets it up.
new_ca front-proxy-ca "hypernest-front-proxy-ca"

if [ ! -f sa.key ]; then
  new_key sa.key
  openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null
fi

client() { [ -f "$1.crt" ] || new_cert "$1" "$2" ca client; }
client admin "/O=system:masters/CN=kubernetes-admin"
client controller-manager "/CN=system:kube-controller-manager"
client scheduler "/CN=system:kube-scheduler"
client kube-proxy "/CN=system:kube-proxy"
client kubelet "/O=system:nodes/CN=system:node:$HN_NODE_NAME"
# The apiserver's identity towards kubelets; bound to system:kubelet-api-admin after start.
client apiserver-kubelet-client "/CN=kube-apiserver-kubelet-client"
[ -f front-proxy-client.crt ] || new_cert front-proxy-client "/CN=front-proxy-client" front-proxy-ca client

if [ "$(cat node-address 2>/dev/null)" != "$node_address" ] || [ ! -f apiserver.crt ] || [ ! -f kubelet-serving.crt ]; then
  new_cert apiserver "/CN=kube-apiserver" ca server \
    "IP:$node_address,IP:127.0.0.1,IP:$HN_API_SERVICE_IP,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  new_cert kubelet-serving "/CN=system:node:$HN_NODE_NAME" ca server "IP:$node_address,IP:127.0.0.1,DNS:$HN_NODE_NAME"
  echo "$node_address" > node-address
fi

kubeconfig "$HN_CLUSTER/admin.kubeconfig" admin
kubeconfig "$HN_CLUSTER/controller-manager.kubeconfig" controller-manager
kubeconfig "$HN_CLUSTER/scheduler.kubeconfig" scheduler
kubeconfig "$HN_CLUSTER/kube-proxy.kubeconfig" kube-proxy
kubeconfig "$HN_CLUSTER/kubelet.kubeconfig" kubelet
