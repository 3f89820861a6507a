#!/usr/bin/env bash
# Runs the functional tests (tests/functests, Ginkgo) against a real cluster:
#  - the cluster KUBECONFIG points at, when it is set (its nodes must already have the
#    test images; see tests/functests/README.md), or
#  - the local cluster: used when it runs, otherwise brought up for the run and taken down
#    afterwards. Its images are synced first (make cluster-sync).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"
cd "$HYPERNEST_ROOT"

if [ -n "${KUBECONFIG:-}" ]; then
  log "functional tests against KUBECONFIG=$KUBECONFIG"
else
  if [ -z "$(daemon_pid kube-apiserver)" ]; then
    log "no local cluster is running; bringing one up for the functional tests"
    make -s cluster-up
    trap 'log "taking down the local cluster the tests started"; hack/cluster/down.sh' EXIT
  fi
  hack/cluster/sync.sh
  export KUBECONFIG="$HN_KUBECONFIG"
fi

# shellcheck disable=SC2086 # GINKGO_FLAGS is a list of flags
go tool ginkgo run ${GINKGO_FLAGS:-} --timeout=45m ./tests/functests
