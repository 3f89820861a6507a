#!/usr/bin/env bash
# Builds Hypernest's images with Bazel (make bazel-build-images) and imports them into the
# running local cluster's containerd, where pods find them with imagePullPolicy
# IfNotPresent or Never: the components as they land, the demo containerDisk (under the
# names KubeVirt's examples use) and the functional tests' workload.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"

[ -n "$(daemon_pid containerd)" ] || die "the local cluster is not running; start it with 'make cluster-up'"
# Not a process substitution: a failed build must stop the sync, not import nothing.
list="$(hack/bazel/build-images.sh --quiet)" || die "building the images failed; nothing was imported"
mapfile -t tarballs <<<"$list"
[ ${#tarballs[@]} -gt 0 ] && [ -n "${tarballs[0]}" ] || die "the image build listed no images"
for tarball in "${tarballs[@]}"; do
  import_image "$tarball"
  log "imported $(image_names "$tarball" | paste -sd, | sed 's/,/, /g')"
done
