#!/usr/bin/env bash
# Proves the image build is reproducible: builds every image, wipes Bazel's output
# (`bazel clean --expunge`) and builds again without the disk cache, then compares the
# digests. Takes a full cold build (about 10 minutes on 2 cores).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$HYPERNEST_ROOT"

first="$(hack/bazel/build-images.sh)"
log "first build:"; echo "$first" >&2
log "wiping Bazel's output (bazel clean --expunge) and building again without the disk cache"
hack/bazel.sh clean --expunge >/dev/null 2>&1
BAZEL_NO_DISK_CACHE=1 hack/bazel/build-images.sh >/tmp/hypernest-second-build.$$ || die "the second build failed"
second="$(cat /tmp/hypernest-second-build.$$)"; rm -f /tmp/hypernest-second-build.$$
if [ "$first" != "$second" ]; then
  diff <(echo "$first") <(echo "$second") >&2 || true
  die "image digests differ between two clean builds: the build is not reproducible"
fi
log "every image has the same digest in both builds:"
echo "$second"
