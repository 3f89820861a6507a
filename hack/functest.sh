#!/usr/bin/env bash
# Runs the functional tests (tests/functests, Ginkgo) against a real cluster:
#  - the cluster KUBECONFIG points at, when it is set (its nodes must already have the
#    test images; see tests/functests/README.md), or
#  - the local cluster: used when it runs, otherwise brought up for the run and taken down
#    afterwards. Its images are synced first (make cluster-sync).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"
cd "$HYPERNEST_ROOT"

local_cluster=""
if [ -n "${KUBECONFIG:-}" ]; then
  log "functional tests against KUBECONFIG=$KUBECONFIG"
else
  local_cluster=1
  if [ -z "$(daemon_pid kube-apiserver)" ]; then
    log "no local cluster is running; bringing one up for the functional tests"
    make -s cluster-up
    trap 'log "taking down the local cluster the tests started"; hack/cluster/down.sh' EXIT
  fi
  hack/cluster/sync.sh
  # Pods of an earlier install keep the images they started with; the tests must run what
  # was just built.
  restart_components kubevirt deployment/virt-operator deployment/virt-api deployment/virt-controller daemonset/virt-handler
  restart_components capk-system deployment/capk-controller-manager
  # The fault tests restart etcd and kube-apiserver only on this machine's local cluster.
  export KUBECONFIG="$HN_KUBECONFIG" HYPERNEST_LOCAL_CLUSTER=1
fi
# Cluster API for the provider's tests: its managers and clusterctl (cached; a cold build
# takes ~10 min), the offline clusterctl repository, the images on the node.
if [ -z "${HYPERNEST_CLUSTERCTL_CONFIG:-}" ]; then
  log "building Cluster API and the local clusterctl repository (make capi-repo; cached)"
  hack/capi/build.sh >/dev/null
  HYPERNEST_CLUSTERCTL_CONFIG="$(hack/capi/repo.sh | tail -1)"
  source hack/capi/common.sh
  export HYPERNEST_CLUSTERCTL="$CAPI_BIN_DIR/clusterctl" HYPERNEST_CLUSTERCTL_CONFIG
  mkdir -p "$CAPI_XDG_CONFIG_HOME"
  export XDG_CONFIG_HOME="$CAPI_XDG_CONFIG_HOME" CLUSTERCTL_DISABLE_VERSIONCHECK=true
fi

# The nested cluster test (label "nested") needs the node image, imported into the local
# cluster (cached; a cold build takes ~10 min); on another cluster, set
# HYPERNEST_NODE_IMAGE to an image its nodes hold. HYPERNEST_NESTED=1 runs only it (make
# functest-nested); HYPERNEST_NESTED=0 leaves it out.
# The live migration and node failure tests (label "migration") run last, on two nodes
# (below).
case "${HYPERNEST_NESTED:-}" in
  1) label_filter="nested" ;;
  0) label_filter="!nested && !migration" ;;
  *) label_filter="!migration" ;;
esac
if [[ "$label_filter" != "!nested"* ]] && [ -z "${HYPERNEST_NODE_IMAGE:-}" ]; then
  [ -n "$local_cluster" ] || die "the nested cluster test needs HYPERNEST_NODE_IMAGE, a node image the nodes of the cluster in KUBECONFIG hold (make node-image builds one); or set HYPERNEST_NESTED=0 to leave the test out"
  log "building the nested clusters' node image (make node-image; cached)"
  hack/node-image/build.sh >/dev/null
  export HYPERNEST_NODE_IMAGE="localhost/hypernest/node-image:$KUBE_VERSION"
fi

# kubectl for the drain tests: the cluster's own build.
export HYPERNEST_KUBECTL="${HYPERNEST_KUBECTL:-$KUBE_BIN_DIR/kubectl}"
rc=0
# shellcheck disable=SC2086 # GINKGO_FLAGS is a list of flags
go tool ginkgo run --label-filter="$label_filter" ${GINKGO_FLAGS:-} --timeout=90m ./tests/functests || rc=$?

# Live migration and the node failure test need a second node: the local cluster gets one
# (node-up.sh copies node 1's images into it; make cluster-down removes it), so the other
# tests keep running on the one node they were written for. On another cluster the tests
# skip, saying so, unless it has two schedulable nodes. The node failure test, last, takes
# the second node away for good (hack/cluster/node-down.sh; elsewhere, set
# HYPERNEST_NODE_POWER_OFF to a command that powers off the node it names).
if [ "${HYPERNEST_NESTED:-}" != 1 ]; then
  if [ -n "$local_cluster" ]; then
    if [ -z "$(daemon_pid node-2-holder)" ]; then
      log "adding a second node to the local cluster for the live migration tests (hack/cluster/node-up.sh 2)"
      hack/cluster/node-up.sh 2
    fi
    export HYPERNEST_NODE_POWER_OFF="$HYPERNEST_ROOT/hack/cluster/node-down.sh"
  fi
  # shellcheck disable=SC2086 # GINKGO_FLAGS is a list of flags
  go tool ginkgo run --label-filter=migration ${GINKGO_FLAGS:-} --timeout=30m ./tests/functests || rc=$?
fi
exit "$rc"
