#!/usr/bin/env bash
# Builds the local cluster's own images into $HN_IMAGES as image tarballs: the pod sandbox
# (pause) and CoreDNS. No registry is involved; cluster-up imports them into containerd.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"

[ -x "$RUNTIME_BIN_DIR/coredns" ] || die "coredns is missing from $RUNTIME_BIN_DIR; run hack/runtime-binaries.sh"
mkdir -p "$HN_IMAGES"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

builder="$work/image-builder"
CGO_ENABLED=0 go build -trimpath -o "$builder" ./hack/image-builder

mkdir -p "$work/pause"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/pause/pause" ./hack/cluster/pause
"$builder" --tag "$HN_PAUSE_IMAGE" --output "$HN_IMAGES/pause.tar" --layer "$work/pause" \
  --entrypoint /pause --user 65535:65535 >&2

"$builder" --tag "$HN_COREDNS_IMAGE" --output "$HN_IMAGES/coredns.tar" \
  --layer "$RUNTIME_BIN_DIR/coredns=/coredns" --entrypoint /coredns >&2
log "cluster images ready in $HN_IMAGES"
