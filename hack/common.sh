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

# Where hack/kube-binaries.sh puts kube-apiserver, kubectl, etcd, ... for KUBE_VERSION.
# envtest reads the same folder through KUBEBUILDER_ASSETS.
KUBE_BIN_DIR="$HYPERNEST_CACHE/kube/$KUBE_VERSION-etcd-$ETCD_VERSION/bin"

export PATH="/usr/local/go/bin:$PATH"
# Never let the go command fetch another toolchain: the machine's Go is the one we test with.
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

# log prints a progress line with the elapsed time since the script started.
_hn_t0=$(date +%s)
log() { printf '[%4ss] %s\n' "$(( $(date +%s) - _hn_t0 ))" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
