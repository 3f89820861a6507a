#!/usr/bin/env bash
# Builds the node runtime of the local cluster from the Go module proxy into the cache:
# containerd (+ ctr, containerd-shim-runc-v2), runc, the CNI plugins the cluster uses
# (bridge, host-local, loopback, portmap), crictl and CoreDNS. Idempotent, keyed by version.
#
#   hack/runtime-binaries.sh          build what is missing, print the bin folder
#   hack/runtime-binaries.sh --print  only print the bin folder
#
# A cold build takes about 10-15 minutes on 2 cores (containerd is the longest).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "${1:-}" = "--print" ]; then echo "$RUNTIME_BIN_DIR"; exit 0; fi
mkdir -p "$RUNTIME_BIN_DIR" "$RUNTIME_BIN_DIR/../logs"
export HEARTBEAT_LOG_DIR="$RUNTIME_BIN_DIR/../logs"
export GOFLAGS="-buildvcs=false"

# CNI plugins: static, no cgo.
CGO_ENABLED=0 go_install "$RUNTIME_BIN_DIR" "cni-plugins-$CNI_VERSION" bridge host-local loopback portmap -- -ldflags "-s -w" \
  "github.com/containernetworking/plugins/plugins/main/bridge@$CNI_VERSION" \
  "github.com/containernetworking/plugins/plugins/ipam/host-local@$CNI_VERSION" \
  "github.com/containernetworking/plugins/plugins/main/loopback@$CNI_VERSION" \
  "github.com/containernetworking/plugins/plugins/meta/portmap@$CNI_VERSION"

# runc needs cgo and libseccomp for its seccomp support (Debian's libseccomp-dev).
if ! pkg-config --exists libseccomp 2>/dev/null; then
  die "runc needs libseccomp-dev and pkg-config; run hack/install-deps.sh (as root)"
fi
CGO_ENABLED=1 go_install "$RUNTIME_BIN_DIR" "runc-$RUNC_VERSION" runc -- -tags seccomp -ldflags "-s -w -X main.version=${RUNC_VERSION#v}" \
  "github.com/opencontainers/runc@$RUNC_VERSION"

# containerd: static; btrfs/devmapper/zfs snapshotters are not used (overlayfs is). Built
# from its module with one patch ($CONTAINERD_PATCH): the CRI plugin gives the handling of
# a container's exit 10 s (handleEventTimeout), then retries with a back-off of up to
# minutes, and until it succeeds the container counts as running, so the kubelet never
# restarts it. On a TCG node under load, deleting the exited task (a runc call through the
# shim) takes longer than that every time: a nested control plane's flanneld exited and
# was never restarted, and no pod on that node got a network (session 10). 2 minutes.
containerd_bins=(containerd containerd-shim-runc-v2 ctr)
if ! all_executable "$RUNTIME_BIN_DIR" "${containerd_bins[@]}"; then
  log "building containerd-$CONTAINERD_VERSION ($CONTAINERD_PATCH)"
  work="$(mktemp -d)"
  src="$(module_dir "github.com/containerd/containerd/v2@$CONTAINERD_VERSION")"
  [ -n "$src" ] && [ -f "$src/go.mod" ] || die "could not download containerd $CONTAINERD_VERSION; check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY))"
  cp -r "$src" "$work/containerd" && chmod -R u+w "$work/containerd"
  events="$work/containerd/internal/cri/server/events.go"
  grep -q '^	handleEventTimeout = 10 \* time.Second$' "$events" \
    || die "containerd $CONTAINERD_VERSION's $events no longer has 'handleEventTimeout = 10 * time.Second'; update the patch in $0 (CONTAINERD_PATCH)"
  sed -i 's/^	handleEventTimeout = 10 \* time.Second$/	handleEventTimeout = 2 * time.Minute/' "$events"
  for b in "${containerd_bins[@]}"; do
    (cd "$work/containerd" && CGO_ENABLED=0 GOWORK=off with_heartbeat "build-$b" go build -trimpath \
      -tags "no_btrfs no_devmapper no_zfs" \
      -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION+$CONTAINERD_PATCH" \
      -o "$work/bin/$b" "./cmd/$b")
  done
  for b in "${containerd_bins[@]}"; do mv -f "$work/bin/$b" "$RUNTIME_BIN_DIR/$b"; done
  rm -rf "$work"
fi

# crictl: the CRI client cluster-down uses to remove pods (with their network) cleanly.
CGO_ENABLED=0 go_install "$RUNTIME_BIN_DIR" "crictl-$CRICTL_VERSION" crictl -- -ldflags "-s -w" \
  "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"

# CoreDNS, the cluster DNS; it runs as a pod from an image built locally from this binary.
CGO_ENABLED=0 go_install "$RUNTIME_BIN_DIR" "coredns-$COREDNS_VERSION" coredns -- -ldflags "-s -w" \
  "github.com/coredns/coredns@$COREDNS_VERSION"

log "runtime binaries ready in $RUNTIME_BIN_DIR"
echo "$RUNTIME_BIN_DIR"
