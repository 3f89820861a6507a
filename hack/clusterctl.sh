#!/usr/bin/env bash
# Runs clusterctl (Cluster API's, built by hack/capi/build.sh) against the local cluster
# with the local repository (make capi-repo), never the network, like hack/kubectl.sh:
#   hack/clusterctl.sh init --infrastructure kubevirt
#   hack/clusterctl.sh generate cluster demo --kubernetes-version v1.37.2 > demo.yaml
# Commands that need no cluster (config repositories, generate provider, version) work
# while the local cluster is down.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/capi/common.sh"

[ -x "$CAPI_BIN_DIR/clusterctl" ] || die "clusterctl $CAPI_VERSION is missing from $CAPI_BIN_DIR; run 'make capi-repo'"
[ -f "$CAPI_CLUSTERCTL_CONFIG" ] || die "no clusterctl repository at $CAPI_REPO; run 'make capi-repo'"

# clusterctl creates $XDG_CONFIG_HOME/cluster-api on every run and reads overrides and its
# default config from there or from ~/.cluster-api: keep it in the cache instead.
mkdir -p "$CAPI_XDG_CONFIG_HOME"
export XDG_CONFIG_HOME="$CAPI_XDG_CONFIG_HOME"
# Environment variables win over the config file; a stray one must not re-enable the
# GitHub release check.
export CLUSTERCTL_DISABLE_VERSIONCHECK=true
# Only the local cluster, whatever KUBECONFIG says (not every subcommand has --kubeconfig).
export KUBECONFIG="$HN_KUBECONFIG"

rc=0
"$CAPI_BIN_DIR/clusterctl" --config="$CAPI_CLUSTERCTL_CONFIG" "$@" || rc=$?
if [ "$rc" -ne 0 ] && [ ! -f "$HN_KUBECONFIG" ]; then
  printf 'note: there is no local cluster kubeconfig at %s; commands that talk to a cluster need it: start the cluster with '"'"'make cluster-up'"'"'\n' "$HN_KUBECONFIG" >&2
fi
exit "$rc"
