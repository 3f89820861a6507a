#!/usr/bin/env bash
# Builds Hypernest's images with Bazel (make bazel-build-images) and imports them into the
# running local cluster's containerd, where pods find them with imagePullPolicy
# IfNotPresent or Never: the components as they land, the demo containerDisk (under the
# names KubeVirt's examples use) and the functional tests' workload.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"

[ -n "$(daemon_pid containerd)" ] || die "the local cluster is not running; start it with 'make cluster-up'"
mapfile -t tarballs < <(hack/bazel/build-images.sh --quiet)
for tarball in "${tarballs[@]}"; do
  refs="$(tar -xOf "$tarball" manifest.json | grep -o '"RepoTags":\[[^]]*\]' | sed 's/"RepoTags":\[//; s/\]//; s/"//g')"
  hn_ctr images import "$tarball" >/dev/null || die "importing $tarball into containerd failed; see $HN_LOGS/containerd.log"
  log "imported ${refs//,/, }"
done
