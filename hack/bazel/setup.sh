#!/usr/bin/env bash
# Prepares the offline Bazel build: materializes rules_go v0.34.0 with the project's Go
# 1.26 patch into _out/bazel/rules_go, and builds gazelle into the cache. Idempotent:
# each step is skipped when its inputs did not change. Debian's bazel-bootstrap and rule
# packages come from hack/install-deps.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$HYPERNEST_ROOT"


patch_file=third_party/rules_go/rules_go-v0.34.0-go1.26.patch
stamp="$(sha256sum "$patch_file" | cut -c1-16)"
dest=_out/bazel/rules_go
if [ "$(cat "$dest/.hypernest-patch" 2>/dev/null)" != "$stamp" ]; then
  log "preparing rules_go $RULES_GO_VERSION (patched for Go 1.26) in $dest"
  src="$(go mod download -json "github.com/bazelbuild/rules_go@$RULES_GO_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  [ -d "$src" ] || die "could not download github.com/bazelbuild/rules_go@$RULES_GO_VERSION from the Go module proxy"
  rm -rf "$dest" && mkdir -p "$(dirname "$dest")"
  cp -r "$src" "$dest" && chmod -R u+w "$dest"
  patch -s -d "$dest" -p1 < "$patch_file" || die "applying $patch_file to rules_go failed"
  echo "$stamp" > "$dest/.hypernest-patch"
fi

if [ ! -x "$BAZEL_TOOLS_DIR/gazelle" ]; then
  log "building gazelle $GAZELLE_VERSION (BUILD file generator)"
  mkdir -p "$BAZEL_TOOLS_DIR"
  GOBIN="$BAZEL_TOOLS_DIR" CGO_ENABLED=0 GOFLAGS=-mod=mod go install "github.com/bazelbuild/bazel-gazelle/cmd/gazelle@$GAZELLE_VERSION" \
    || die "building gazelle failed; check that the Go module proxy is reachable"
fi
