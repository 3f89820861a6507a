#!/usr/bin/env bash
# Runs virtctl, built from this checkout, against the local cluster, like kubevirtci's
# cluster-up/virtctl.sh:  hack/virtctl.sh start vm-cirros
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"
[ -f "$HN_KUBECONFIG" ] || die "no local cluster kubeconfig at $HN_KUBECONFIG; start the cluster with 'make cluster-up'"
export PATH="/usr/local/go/bin:$PATH"
bin="$HYPERNEST_ROOT/_out/bin/virtctl"
# Rebuilt when any of its sources is newer (a no-op build takes about a second).
(cd "$HYPERNEST_ROOT" && GOFLAGS="-mod=mod -buildvcs=false" GOTOOLCHAIN=local go build -ldflags "$(hack/version.sh ldflags)" -o "$bin" ./components/virtctl) \
  || die "building virtctl failed; see the compiler's message above"
exec "$bin" --kubeconfig "$HN_KUBECONFIG" "$@"
