#!/usr/bin/env bash
# Builds the Kubernetes binaries (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet, kube-proxy, kubectl; kubeadm on request) at KUBE_VERSION and etcd at ETCD_VERSION from the Go module proxy into
# the cache outside the checkout. Idempotent: a binary already in the cache is not rebuilt.
#
#   hack/kube-binaries.sh            build what is missing, print the bin folder
#   hack/kube-binaries.sh --print    only print the bin folder (for KUBEBUILDER_ASSETS)
#   BINS="etcd kube-apiserver kubectl" hack/kube-binaries.sh   build a subset
#
# A cold build takes about 20-30 minutes of CPU on 2 cores (kube-apiserver alone ~10).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "${1:-}" = "--print" ]; then echo "$KUBE_BIN_DIR"; exit 0; fi

# etcd, kube-apiserver and kubectl first: they are all envtest needs.
BINS="${BINS:-etcd kube-apiserver kubectl kube-controller-manager kube-scheduler kubelet kube-proxy}"
WORK="$HYPERNEST_CACHE/kube/$KUBE_VERSION-etcd-$ETCD_VERSION/build"
mkdir -p "$KUBE_BIN_DIR" "$WORK/kube" "$WORK/etcd" "$WORK/logs"
export HEARTBEAT_LOG_DIR="$WORK/logs"

command -v go >/dev/null || die "go not found; install Go 1.26 into /usr/local/go"

# Release-style static binaries. CGO_ENABLED=0 is how upstream builds the server components;
# the kubelet runs fine without cgo on this host (cgroupfs driver).
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"

missing=()
for b in $BINS; do
  [ -x "$KUBE_BIN_DIR/$b" ] || missing+=("$b")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "Kubernetes $KUBE_VERSION and etcd $ETCD_VERSION binaries are cached in $KUBE_BIN_DIR"
  echo "$KUBE_BIN_DIR"
  exit 0
fi
log "building ${missing[*]} into $KUBE_BIN_DIR (cold builds take minutes each; logs in $WORK/logs)"

# ---- etcd: the server module's root package is its main.
if [[ " ${missing[*]} " == *" etcd "* ]]; then
  cd "$WORK/etcd"
  if [ ! -f go.sum ] || ! grep -q "server/v3 $ETCD_VERSION" go.mod 2>/dev/null; then
    printf 'module hypernest.local/etcdbuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n\ntool go.etcd.io/etcd/server/v3\n' "$ETCD_VERSION" > go.mod
    rm -f go.sum
    with_heartbeat etcd-mod-tidy go mod tidy
  fi
  log "building etcd $ETCD_VERSION"
  with_heartbeat build-etcd go build -trimpath -ldflags "-s -w" -o "$KUBE_BIN_DIR/.etcd.tmp" go.etcd.io/etcd/server/v3
  mv -f "$KUBE_BIN_DIR/.etcd.tmp" "$KUBE_BIN_DIR/etcd"
fi

# ---- Kubernetes: a wrapper module that requires k8s.io/kubernetes and mirrors its
# "replace k8s.io/<staging> => ./staging/..." block with the published v0.X.Y modules.
kube_bins=()
for b in "${missing[@]}"; do [ "$b" = etcd ] || kube_bins+=("$b"); done
if [ ${#kube_bins[@]} -gt 0 ]; then
  cd "$WORK/kube"
  if [ ! -f go.sum ] || ! grep -q "k8s.io/kubernetes $KUBE_VERSION" go.mod 2>/dev/null; then
    log "resolving k8s.io/kubernetes@$KUBE_VERSION from the module proxy"
    kmod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
    [ -f "$kmod" ] || die "could not download k8s.io/kubernetes@$KUBE_VERSION; check GOPROXY"
    staging="v0.${KUBE_VERSION#v1.}"
    gover="$(awk '$1=="go"{print $2; exit}' "$kmod")"
    {
      printf 'module hypernest.local/kubebuild\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$gover" "$KUBE_VERSION"
      # Only staging modules kubernetes requires at v0.0.0 are published (sample-* are not).
      awk '/^replace \(/{f=1;next} f&&/^\)/{f=0} f&&/=> \.\/staging/{print $1}' "$kmod" | while read -r m; do
        if grep -qE "^[[:space:]]+$m v0\.0\.0" "$kmod"; then printf '\t%s => %s %s\n' "$m" "$m" "$staging"; fi
      done
      printf ')\n\ntool (\n'
      for b in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy kubeadm; do printf '\tk8s.io/kubernetes/cmd/%s\n' "$b"; done
      printf ')\n'
    } > go.mod
    rm -f go.sum
    with_heartbeat kube-mod-tidy go mod tidy
  fi
  # Version stamping as kubernetes' hack/lib/version.sh does it, so --version tells the truth.
  major="${KUBE_VERSION#v}"; major="${major%%.*}"; minor="${KUBE_VERSION#v*.}"; minor="${minor%%.*}"
  ldflags="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  for b in "${kube_bins[@]}"; do
    log "building $b $KUBE_VERSION"
    with_heartbeat "build-$b" go build -trimpath -ldflags "$ldflags" -o "$KUBE_BIN_DIR/.$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv -f "$KUBE_BIN_DIR/.$b.tmp" "$KUBE_BIN_DIR/$b"
  done
fi

for b in $BINS; do [ -x "$KUBE_BIN_DIR/$b" ] || die "$b is missing from $KUBE_BIN_DIR after the build"; done
log "done: $("$KUBE_BIN_DIR/kube-apiserver" --version 2>/dev/null || true), etcd $ETCD_VERSION in $KUBE_BIN_DIR"
echo "$KUBE_BIN_DIR"
