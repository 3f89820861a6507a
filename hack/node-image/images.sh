# shellcheck shell=bash
# The container images a kubeadm node runs, built here from source (sourced by
# hack/node-image/build.sh, which preloads them into the node image: nothing is pulled).
# Names are kubeadm's (registry.k8s.io/...); tags say what is inside:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy  KUBE_VERSION
#   etcd           ETCD_VERSION as <version>-0 (kubeadm's etcd tag scheme)
#   coredns        COREDNS_VERSION
#   pause          3.10.2, kubeadm's: Kubernetes' own pause.c, built static
# kubeadm asks for etcd 3.7.0-0 and CoreDNS v1.14.6 by default: the cluster templates set
# etcd.local.imageTag and dns.imageTag to the versions built here.

# kubeadm_image_refs prints the image references, one per line.
kubeadm_image_refs() {
  local etcd_tag="${ETCD_VERSION#v}-0"
  printf 'registry.k8s.io/%s:%s\n' kube-apiserver "$KUBE_VERSION" kube-controller-manager "$KUBE_VERSION" \
    kube-scheduler "$KUBE_VERSION" kube-proxy "$KUBE_VERSION" etcd "$etcd_tag" coredns/coredns "$COREDNS_VERSION" pause "$PAUSE_VERSION"
}
PAUSE_VERSION=3.10.2

# build_kubeadm_images <kube bin> <runtime bin> <out dir>: one OCI tarball per image.
build_kubeadm_images() {
  local kube_bin="$1" runtime_bin="$2" out="$3" b
  local builder=(go run ./hack/image-builder)
  mkdir -p "$out"
  for b in kube-apiserver kube-controller-manager kube-scheduler; do
    "${builder[@]}" --tag "registry.k8s.io/$b:$KUBE_VERSION" --output "$out/$b.tar" \
      --layer "$kube_bin/$b=/usr/local/bin/$b" --entrypoint "/usr/local/bin/$b" >/dev/null || die "building the $b image failed"
  done
  # kube-proxy programs the node with iptables (Debian's, nft backend, as on the node).
  local ipt="$out/iptables-debs" links="$out/iptables-links"
  fetch_lock rpm/iptables.lock "$ipt"
  rm -rf "$links" && mkdir -p "$links/usr/sbin"
  for b in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf xtables-nft-multi "$links/usr/sbin/$b"
  done
  local debs=() d
  for d in "$ipt"/*.deb; do
    case "$(basename "$d")" in busybox-static_*) ;; *) debs+=(--deb "$d") ;; esac
  done
  "${builder[@]}" --tag "registry.k8s.io/kube-proxy:$KUBE_VERSION" --output "$out/kube-proxy.tar" "${debs[@]}" \
    --layer "$links" --layer "$kube_bin/kube-proxy=/usr/local/bin/kube-proxy" --entrypoint /usr/local/bin/kube-proxy >/dev/null \
    || die "building the kube-proxy image failed"
  "${builder[@]}" --tag "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" --output "$out/etcd.tar" \
    --layer "$kube_bin/etcd=/usr/local/bin/etcd" --entrypoint /usr/local/bin/etcd >/dev/null || die "building the etcd image failed"
  "${builder[@]}" --tag "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" --output "$out/coredns.tar" \
    --layer "$runtime_bin/coredns=/coredns" --entrypoint /coredns >/dev/null || die "building the CoreDNS image failed"
  # pause: Kubernetes' own, from the k8s.io/kubernetes module, built as upstream does.
  local src
  src="$(cd / && go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/build/pause/linux/pause.c"
  [ -f "$src" ] || die "pause.c is missing from k8s.io/kubernetes@$KUBE_VERSION ($src)"
  gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION" -o "$out/pause" "$src" || die "compiling pause failed; is gcc installed (hack/install-deps.sh)?"
  strip "$out/pause"
  "${builder[@]}" --tag "registry.k8s.io/pause:$PAUSE_VERSION" --output "$out/pause.tar" \
    --layer "$out/pause=/pause" --entrypoint /pause --user 65535:65535 >/dev/null || die "building the pause image failed"
}
