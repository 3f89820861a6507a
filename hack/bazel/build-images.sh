#!/usr/bin/env bash
# Builds every image (the //:images filegroup) with Bazel and prints "<name> <digest>"
# for each tag. The tarballs land in _out/bazel-bin; `make cluster-sync` imports them.
#
#   hack/bazel/build-images.sh [--quiet]   (--quiet: only the list of tarballs on stdout)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$HYPERNEST_ROOT"

log "building images with Bazel"
hack/bazel.sh build //:images >"$BAZEL_CACHE_DIR/last-build.log" 2>&1 || {
  grep -E 'ERROR|error:' "$BAZEL_CACHE_DIR/last-build.log" | head -20 >&2
  die "the Bazel image build failed; full log: $BAZEL_CACHE_DIR/last-build.log"
}
# Each image target //pkg:name leaves _out/bazel-bin/pkg/name.{tar,digest}.
mapfile -t labels < <(hack/bazel.sh query 'labels(srcs, //:images)' 2>/dev/null)
[ ${#labels[@]} -gt 0 ] || die "no images listed in //:images"
for label in "${labels[@]}"; do
  out="_out/bazel-bin/$(echo "${label#//}" | tr ':' '/')"
  if [ "${1:-}" = "--quiet" ]; then echo "$out.tar"; else cat "$out.digest"; fi
done
