#!/usr/bin/env bash
# Builds Hypernest's images and imports them into the running local cluster's containerd,
# where pods find them with imagePullPolicy IfNotPresent or Never. Today that is the
# functional tests' workload image; the components join as they land.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"

[ -n "$(daemon_pid containerd)" ] || die "the local cluster is not running; start it with 'make cluster-up'"
mkdir -p "$HN_IMAGES"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
builder="$work/image-builder"
CGO_ENABLED=0 go build -trimpath -o "$builder" ./hack/image-builder

# image <name> <tag> <builder args...>: builds $HN_IMAGES/<name>.tar and imports it.
image() {
  local name="$1" tag="$2"; shift 2
  "$builder" --tag "$tag" --output "$HN_IMAGES/$name.tar" "$@" >&2
  hn_ctr images import "$HN_IMAGES/$name.tar" >/dev/null || die "importing $name into containerd failed; see $HN_LOGS/containerd.log"
  log "imported $tag"
}

mkdir -p "$work/testserver"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/testserver/testserver" ./tests/images/testserver
image testserver "$HN_TESTSERVER_IMAGE" --layer "$work/testserver" --entrypoint /testserver --cmd serve --user 65532:65532
