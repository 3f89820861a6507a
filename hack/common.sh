# shellcheck shell=bash disable=SC2034 # settings used by the scripts that source this file
# Shared settings for the scripts behind the make targets. Source it; do not run it.
#
# Everything slow to build (Kubernetes binaries, guest images, Bazel output) lives in
# HYPERNEST_CACHE, outside the checkout and keyed by version, so CI runs and later
# checkouts on the same machine reuse it. Deleting the cache is always safe.

HYPERNEST_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HYPERNEST_CACHE="${HYPERNEST_CACHE:-$HOME/.cache/hypernest}"

# Versions of the substrate. Kubernetes v1.37.2 is the newest release the Go module proxy
# serves; etcd v3.7.3 is the etcd that release is tested with.
KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.7.3}"

# The node runtime of the local cluster (hack/runtime-binaries.sh), all from the Go proxy.
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.4.2}"
RUNC_VERSION="${RUNC_VERSION:-v1.5.2}"
CNI_VERSION="${CNI_VERSION:-v1.10.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.15.0}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.37.0}"
# The local cluster's storage provisioner (hack/cluster/images.sh), from the Go proxy.
LOCAL_PATH_VERSION="${LOCAL_PATH_VERSION:-v0.0.30}"
# The one change to containerd's source (hack/runtime-binaries.sh says why); part of the
# cache keys, so a changed patch rebuilds containerd and the node image.
CONTAINERD_PATCH="cri-event-timeout-2m"
RUNTIME_BIN_DIR="${RUNTIME_BIN_DIR:-$HYPERNEST_CACHE/runtime/containerd-$CONTAINERD_VERSION-$CONTAINERD_PATCH-runc-$RUNC_VERSION-cni-$CNI_VERSION-coredns-$COREDNS_VERSION-crictl-$CRICTL_VERSION/bin}"

# Bazel (Debian's 4.2.3) with rules_go v0.34.0 patched for Go 1.26, gazelle for BUILD files.
RULES_GO_VERSION=v0.34.0
GAZELLE_VERSION=v0.42.0
BAZEL_CACHE_DIR="$HYPERNEST_CACHE/bazel"
BAZEL_TOOLS_DIR="$BAZEL_CACHE_DIR/tools-gazelle-$GAZELLE_VERSION"

# KWOK (fake nodes for make bench's density run), built from the Go module proxy.
KWOK_VERSION="${KWOK_VERSION:-v0.7.0}"
KWOK_BIN="${KWOK_BIN:-$HYPERNEST_CACHE/kwok/$KWOK_VERSION/kwok}"

# Where hack/kube-binaries.sh puts kube-apiserver, kubectl, etcd, ... for KUBE_VERSION.
# envtest reads the same folder through KUBEBUILDER_ASSETS.
KUBE_BIN_DIR="${KUBE_BIN_DIR:-$HYPERNEST_CACHE/kube/$KUBE_VERSION-etcd-$ETCD_VERSION/bin}"

export PATH="/usr/local/go/bin:$PATH"
# Never let the go command fetch another toolchain: the machine's Go is the one we test with.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
# vendor/ exists only for Bazel (make gazelle); the go command always uses go.sum.
export GOFLAGS="${GOFLAGS:--mod=mod -buildvcs=false}"

# log prints a progress line with the elapsed time since the script started.
_hn_t0=$(date +%s)
log() { printf '[%4ss] %s\n' "$(( $(date +%s) - _hn_t0 ))" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# with_heartbeat <label> <cmd...>: runs cmd, printing a line every 30 s so a long compile
# is visibly alive; on failure it shows the end of the log and says where the rest is
# (and HEARTBEAT_HINT, or a hint about the Go module proxy).
with_heartbeat() {
  local label="$1"; shift
  local logf="${HEARTBEAT_LOG_DIR:-/tmp}/$label.log" start
  start=$(date +%s)
  "$@" >"$logf" 2>&1 &
  local pid=$!
  local next=30
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    local el=$(( $(date +%s) - start ))
    if [ "$el" -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
      log "  ... $label still running (${el}s)"; next=$(( next + 30 ))
    fi
  done
  if ! wait "$pid"; then
    tail -30 "$logf" >&2
    die "$label failed; full log: $logf. ${HEARTBEAT_HINT:-Check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and retry.}"
  fi
  log "  $label done in $(( $(date +%s) - start ))s"
}

# module_dir <module@version>: downloads a Go module from the proxy (outside any
# workspace) and prints its folder in the module cache, or nothing when it could not.
module_dir() {
  local scratch dir
  scratch="$(mktemp -d)"
  dir="$(cd "$scratch" && GOWORK=off go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')" || true
  rm -rf "$scratch"
  printf '%s' "$dir"
}

# all_executable <dir> <names...>: true when every name is an executable file in dir.
all_executable() {
  local dir="$1" b; shift
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

# go_install <dir> <label> <binaries...> -- <go install args...>: builds the binaries
# (with a heartbeat) into a scratch GOBIN and moves them into dir only when all of them
# built; does nothing when dir has them all already.
go_install() {
  local dir="$1" label="$2"; shift 2
  local bins=()
  while [ "$1" != "--" ]; do bins+=("$1"); shift; done; shift
  ! all_executable "$dir" "${bins[@]}" || return 0
  local gobin; gobin="$(mktemp -d)"
  log "building $label"
  mkdir -p "$dir"
  GOBIN="$gobin" with_heartbeat "build-$label" go install -trimpath "$@"
  for b in "${bins[@]}"; do mv -f "$gobin/$b" "$dir/$b"; done
  rm -rf "$gobin"
}

# fetch_lock <lock> <dir>: the lock's packages, downloaded once into the shared cache,
# checked against their sha256 and linked into dir.
fetch_lock() {
  local lock="$1" dir="$2" debs="$HYPERNEST_CACHE/debs" total n=0 name version sum url file
  mkdir -p "$debs" "$dir"
  total="$(grep -vc '^#' "$lock")"
  while read -r name version _ sum url; do
    n=$((n + 1))
    file="$debs/$(basename "$url")"
    if [ ! -f "$file" ] || [ "sha256:$(sha256sum "$file" | cut -d' ' -f1)" != "$sum" ]; then
      curl -fsSL --retry 3 -o "$file.tmp" "$url" || die "downloading $name $version from $url failed; check that Debian's archive is reachable, or re-resolve with 'make rpm-deps' if it moved"
      [ "sha256:$(sha256sum "$file.tmp" | cut -d' ' -f1)" = "$sum" ] || die "$name $version: checksum differs from $lock; the archive changed it: re-resolve with 'make rpm-deps'"
      mv -f "$file.tmp" "$file"
    fi
    ln -f "$file" "$dir/"
    if [ $((n % 50)) -eq 0 ]; then log "  $n / $total packages of $lock"; fi
  done < <(grep -v '^#' "$lock")
}
