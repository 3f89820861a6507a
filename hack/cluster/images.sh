#!/usr/bin/env bash
# Builds the local cluster's own images into $HN_IMAGES as image tarballs: the pod sandbox
# (pause), CoreDNS and the storage provisioner (local-path-provisioner). No registry is
# involved; cluster-up imports them into containerd.
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

# local-path-provisioner, built from its own Go module at the tagged version (its go.sum
# pins every dependency), kept in the cache; its image also carries busybox, the shell
# its helper pods run to make and remove volume folders.
lp_out="$HYPERNEST_CACHE/local-path/$LOCAL_PATH_VERSION"
lp_bin="$lp_out/local-path-provisioner"
if [ ! -x "$lp_bin" ]; then
  log "building local-path-provisioner $LOCAL_PATH_VERSION from the Go module proxy (a cold build takes a few minutes)"
  mkdir -p "$lp_out"
  lp_src="$(cd / && GOFLAGS=-mod=mod go mod download -json "github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [ -f "$lp_src/go.mod" ] || die "could not download github.com/rancher/local-path-provisioner@$LOCAL_PATH_VERSION; check GOPROXY=$(go env GOPROXY)"
  HEARTBEAT_LOG_DIR="$lp_out" with_heartbeat build-local-path \
    bash -c "cd '$lp_src' && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags '-s -w' -o '$lp_bin.tmp' ."
  mv -f "$lp_bin.tmp" "$lp_bin"
fi
fetch_lock rpm/local-path.lock "$work/local-path-debs"
mkdir -p "$work/local-path-links/usr/bin"
for applet in sh mkdir rm rmdir ls cat chmod; do ln -s busybox "$work/local-path-links/usr/bin/$applet"; done
lp_debs=()
for d in "$work/local-path-debs"/*.deb; do lp_debs+=(--deb "$d"); done
"$builder" --tag "$HN_LOCAL_PATH_IMAGE" --output "$HN_IMAGES/local-path.tar" "${lp_debs[@]}" \
  --layer "$work/local-path-links" --layer "$lp_bin=/usr/local/bin/local-path-provisioner" \
  --entrypoint /usr/local/bin/local-path-provisioner --user 65532:65532 >&2
log "cluster images ready in $HN_IMAGES"
