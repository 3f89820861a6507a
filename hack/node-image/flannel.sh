# shellcheck shell=bash
# flannel, the nested clusters' CNI (sourced by hack/node-image/build.sh): flanneld with
# its vxlan backend, and the flannel CNI plugin that hands each pod the node's subnet
# through the bridge and host-local plugins. Chosen because it is one small daemon per
# node, maintained, buildable from the Go module proxy, and its VXLAN overlay needs only
# UDP 8472 between the nodes' addresses: the infrastructure cluster's pod network carries
# that without knowing the nested cluster's pod network.
#   flanneld            github.com/flannel-io/flannel FLANNEL_VERSION
#   flannel CNI plugin  github.com/containernetworking/plugins FLANNEL_CNI_VERSION
#                       (plugins/meta/flannel: flannel-io/cni-plugin, its successor, is not
#                       served by the module proxy)
FLANNEL_VERSION="${FLANNEL_VERSION:-v0.28.10}"
FLANNEL_CNI_VERSION="${FLANNEL_CNI_VERSION:-v0.9.1}"
FLANNEL_IMAGE="localhost/hypernest/flannel:$FLANNEL_VERSION"

# build_flannel <out dir>: flanneld and the flannel CNI plugin into out (cached there).
build_flannel() {
  local out="$1" work
  work="$HYPERNEST_CACHE/flannel/$FLANNEL_VERSION-cni-$FLANNEL_CNI_VERSION"
  mkdir -p "$out" "$work/flanneld/tencentvpc/v20170312" "$work/cni" "$work/logs"
  if [ ! -x "$work/bin/flanneld" ]; then
    # A wrapper module: flannel as a dependency, its Tencent Cloud SDK dependency (not
    # served by the proxy, used only by a cloud backend) replaced by a stub.
    cp "$HYPERNEST_ROOT/hack/node-image/flannel/tencentvpc-stub.go.txt" "$work/flanneld/tencentvpc/v20170312/stub.go"
    printf 'module github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc\n\ngo 1.21\n' > "$work/flanneld/tencentvpc/go.mod"
    (
      cd "$work/flanneld" || exit 1
      if ! grep -q "flannel $FLANNEL_VERSION" go.mod 2>/dev/null; then
        printf 'module hypernest.local/flannelbuild\n\ngo 1.26.0\n\nrequire github.com/flannel-io/flannel %s\n\nreplace github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/vpc => ./tencentvpc\n\ntool github.com/flannel-io/flannel\n' "$FLANNEL_VERSION" > go.mod
        rm -f go.sum
        HEARTBEAT_LOG_DIR="$work/logs" with_heartbeat flannel-mod-tidy go mod tidy
      fi
      # cgo: flannel's UDP backend has no pure-Go build on amd64. Static, so the image
      # needs no C library of its own.
      log "building flanneld $FLANNEL_VERSION (a cold build takes ~3 min)"
      CGO_ENABLED=1 HEARTBEAT_LOG_DIR="$work/logs" with_heartbeat build-flanneld go build -trimpath -tags netgo,osusergo \
        -ldflags "-s -w -extldflags -static -X github.com/flannel-io/flannel/pkg/version.Version=$FLANNEL_VERSION" \
        -o "$work/bin/flanneld" github.com/flannel-io/flannel
    )
  fi
  if [ ! -x "$work/bin/flannel" ]; then
    (
      cd "$work/cni" || exit 1
      if ! grep -q "plugins $FLANNEL_CNI_VERSION" go.mod 2>/dev/null; then
        printf 'module hypernest.local/flannelcnibuild\n\ngo 1.26.0\n\nrequire github.com/containernetworking/plugins %s\n\ntool github.com/containernetworking/plugins/plugins/meta/flannel\n' "$FLANNEL_CNI_VERSION" > go.mod
        rm -f go.sum
        HEARTBEAT_LOG_DIR="$work/logs" with_heartbeat flannel-cni-mod-tidy go mod tidy
      fi
      CGO_ENABLED=0 HEARTBEAT_LOG_DIR="$work/logs" with_heartbeat build-flannel-cni go build -trimpath -ldflags "-s -w" \
        -o "$work/bin/flannel" github.com/containernetworking/plugins/plugins/meta/flannel
    )
  fi
  cp "$work/bin/flanneld" "$work/bin/flannel" "$out/"
}

# build_flannel_image <flannel bin dir> <iptables debs dir> <links dir> <out tarball>:
# flanneld programs the node's iptables (masquerading, forwarding) with Debian's.
build_flannel_image() {
  local bin="$1" ipt="$2" links="$3" out="$4" debs=() d
  for d in "$ipt"/*.deb; do debs+=(--deb "$d"); done
  go run ./hack/image-builder --tag "$FLANNEL_IMAGE" --output "$out" "${debs[@]}" --layer "$links" \
    --layer "$bin/flanneld=/opt/bin/flanneld" --layer "$bin/flannel=/opt/cni/bin/flannel" \
    --entrypoint /opt/bin/flanneld >/dev/null || die "building the flannel image failed"
}
