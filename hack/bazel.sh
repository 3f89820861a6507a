#!/usr/bin/env bash
# Runs Bazel with its output root, disk cache and repository cache in $HYPERNEST_CACHE,
# so builds survive `git clean` and CI reuses them:   hack/bazel.sh build //api/...
# vendor/ (the Go dependencies, hack/bazel/vendor.sh) exists only while Bazel runs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"
command -v bazel >/dev/null || die "bazel is not installed; run hack/install-deps.sh (Debian's bazel-bootstrap 4.2.3)"
for d in /usr/share/bazel/tools/skylib /usr/share/bazel/tools/platforms /usr/share/bazel/rules/java /usr/share/bazel/rules/proto; do
  [ -d "$d" ] || die "$d is missing; run hack/install-deps.sh (Debian's bazel-skylib, bazel-platforms, bazel-rules-java, bazel-rules-proto)"
done
mkdir -p "$BAZEL_CACHE_DIR"
rc="$BAZEL_CACHE_DIR/cache.bazelrc"
disk_cache="$BAZEL_CACHE_DIR/disk-cache"
# BAZEL_NO_DISK_CACHE=1: rebuild for real (hack/bazel/build-verify.sh).
[ -z "${BAZEL_NO_DISK_CACHE:-}" ] || disk_cache=""
cat > "$rc" <<RC
build --disk_cache=$disk_cache
build --repository_cache=$BAZEL_CACHE_DIR/repository-cache
fetch --repository_cache=$BAZEL_CACHE_DIR/repository-cache
query --repository_cache=$BAZEL_CACHE_DIR/repository-cache
# Bazel fetches its coverage tools from mirror.bazel.build for every test target; that
# host is unreachable, so a local stand-in answers instead (absolute path required).
build --override_repository=remote_coverage_tools=$HYPERNEST_ROOT/third_party/remote_coverage_tools
query --override_repository=remote_coverage_tools=$HYPERNEST_ROOT/third_party/remote_coverage_tools
RC

case "${1:-}" in
  shutdown|clean|info|version|help|"") ;;
  *)
    trap 'rm -f vendor' EXIT
    hack/bazel/vendor.sh
    ;;
esac
bazel --output_user_root="$BAZEL_CACHE_DIR/root" --bazelrc="$rc" "$@"
