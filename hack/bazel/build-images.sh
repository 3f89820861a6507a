#!/usr/bin/env bash
# Builds every image (the //:images filegroup) with Bazel and prints "<name> <digest>"
# for each tag. The tarballs land in _out/bazel-bin; `make cluster-sync` imports them.
#
#   hack/bazel/build-images.sh [--quiet]   (--quiet: only the list of tarballs on stdout)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$HYPERNEST_ROOT"

mkdir -p "$BAZEL_CACHE_DIR"
log "building images with Bazel"
build_log="$BAZEL_CACHE_DIR/last-build.log"
# A cold build takes ~15 min: show Bazel's progress ("[done / total] action") every 30 s.
hack/bazel.sh build --curses=no --show_progress_rate_limit=5 //:images >"$build_log" 2>&1 &
build_pid=$!
next=30
while kill -0 "$build_pid" 2>/dev/null; do
  sleep 1
  if [ $SECONDS -ge $next ]; then
    progress="$(grep -aoE '^\[[0-9,]+ / [0-9,]+\] .{0,70}' "$build_log" | tail -1 || true)"
    log "  ... Bazel still building${progress:+: $progress}"
    next=$((SECONDS + 30))
  fi
done
wait "$build_pid" || {
  grep -E 'ERROR|error:' "$build_log" | head -20 >&2
  die "the Bazel image build failed; full log: $build_log"
}
# Each image target //pkg:name leaves _out/bazel-bin/pkg/name.{tar,digest}.
mapfile -t labels < <(hack/bazel.sh query 'labels(srcs, //:images)' 2>/dev/null)
[ ${#labels[@]} -gt 0 ] || die "no images listed in //:images"
for label in "${labels[@]}"; do
  out="_out/bazel-bin/$(echo "${label#//}" | tr ':' '/')"
  if [ "${1:-}" = "--quiet" ]; then echo "$out.tar"; else cat "$out.digest"; fi
done
