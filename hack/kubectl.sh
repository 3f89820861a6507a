#!/usr/bin/env bash
# Runs kubectl (the cluster's own v1.37 build) against the local cluster, like
# kubevirtci's cluster-up/kubectl.sh:  hack/kubectl.sh get nodes
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"
[ -x "$KUBE_BIN_DIR/kubectl" ] || die "kubectl is missing; run hack/kube-binaries.sh"
[ -f "$HN_KUBECONFIG" ] || die "no local cluster kubeconfig at $HN_KUBECONFIG; start the cluster with 'make cluster-up'"
exec "$KUBE_BIN_DIR/kubectl" --kubeconfig "$HN_KUBECONFIG" "$@"
