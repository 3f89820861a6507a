#!/usr/bin/env bash
# Checks that a tampered lock stops the build: copies rpm/demo-disk.lock with one
# package's sha256 altered into a scratch workspace that uses rpm/debian.bzl, builds it,
# and fails unless Bazel refuses it with a message naming that package.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$HYPERNEST_ROOT"
command -v bazel >/dev/null || die "bazel is not installed; run hack/install-deps.sh"

package=busybox-static
work="$BAZEL_CACHE_DIR/lock-tamper-check"
mkdir -p "$work"
line="$(grep "^$package " rpm/demo-disk.lock)" || die "rpm/demo-disk.lock has no $package"
sum="$(echo "$line" | awk '{print $4}')"
# Flip the last hex digit of the checksum.
last="${sum: -1}"; new_last=0; [ "$last" != 0 ] || new_last=1
grep "^#" rpm/demo-disk.lock > "$work/tampered.lock"
echo "${line/$sum/${sum%?}$new_last}" >> "$work/tampered.lock"
cat > "$work/WORKSPACE" <<WS
workspace(name = "lock_tamper_check")
local_repository(name = "io_hypernest", path = "$HYPERNEST_ROOT")
load("@io_hypernest//rpm:debian.bzl", "debian_lock")
debian_lock(name = "tampered", lock = "//:tampered.lock")
WS
echo 'exports_files(["tampered.lock"])' > "$work/BUILD.bazel"

log "building a lock whose $package checksum was altered (must fail)"
if out="$(cd "$work" && bazel --output_user_root="$BAZEL_CACHE_DIR/root" build \
      --repository_cache="$BAZEL_CACHE_DIR/repository-cache" @tampered//:debs 2>&1)"; then
  die "the build accepted a tampered lock"
fi
(cd "$work" && bazel --output_user_root="$BAZEL_CACHE_DIR/root" shutdown >/dev/null 2>&1) || true
if ! echo "$out" | grep -q "package $package "; then
  echo "$out" | tail -20 >&2
  die "the build failed, but its message does not name the package $package"
fi
log "refused as it should be: $(echo "$out" | grep -o "package $package [^(]*" | head -1)"
