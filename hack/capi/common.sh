# shellcheck shell=bash disable=SC2034 # settings used by the scripts that source this file
# Settings of the Cluster API tooling (hack/capi/build.sh, hack/capi/repo.sh,
# hack/clusterctl.sh). Source it; do not run it.
#
# Cluster API is built from the Go module proxy (no GitHub, no registry): its managers
# and clusterctl into $CAPI_BIN_DIR, one image tarball per manager into
# $CAPI_IMAGES_DIR, and a clusterctl repository of file:// providers in $CAPI_REPO.
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/common.sh"

# The Cluster API release (sigs.k8s.io/cluster-api and sigs.k8s.io/cluster-api/api):
# a bump is this one line. v1.14.2 is the newest release the proxy serves (contract v1beta2).
CAPI_VERSION="${CAPI_VERSION:-v1.14.2}"
# The version our infrastructure provider (manifests/capi) is published under in the
# repository; manifests/capi/metadata.yaml must have a release series for it.
CAPI_INFRA_VERSION="${CAPI_INFRA_VERSION:-v0.1.0}"

CAPI_DIR="$HYPERNEST_CACHE/capi/$CAPI_VERSION"
CAPI_BIN_DIR="$CAPI_DIR/bin"
CAPI_BUILD_DIR="$CAPI_DIR/build"      # the wrapper module and the build logs
CAPI_IMAGES_DIR="$CAPI_DIR/images"
CAPI_IMAGE_PREFIX=localhost/hypernest/capi
# The clusterctl repository; rebuilt from scratch by hack/capi/repo.sh.
CAPI_REPO="$HYPERNEST_CACHE/capi/repo"
CAPI_CLUSTERCTL_CONFIG="$CAPI_REPO/clusterctl.yaml"
# clusterctl's own config folder ($XDG_CONFIG_HOME/cluster-api), kept out of the home
# folder: clusterctl creates it on every run and would read overrides from it.
CAPI_XDG_CONFIG_HOME="$HYPERNEST_CACHE/capi/xdg-config"

# The managers: <binary and image name> <package in sigs.k8s.io/cluster-api>
# <image name in the upstream kustomize config> <config folder> <repository folder>
# <components file>.
CAPI_MANAGERS=(
  "cluster-api-manager core gcr.io/k8s-staging-cluster-api/cluster-api-controller core/config/default cluster-api core-components.yaml"
  "kubeadm-bootstrap-manager bootstrap/kubeadm gcr.io/k8s-staging-cluster-api/kubeadm-bootstrap-controller bootstrap/kubeadm/config/default bootstrap-kubeadm bootstrap-components.yaml"
  "kubeadm-control-plane-manager controlplane/kubeadm gcr.io/k8s-staging-cluster-api/kubeadm-control-plane-controller controlplane/kubeadm/config/default control-plane-kubeadm control-plane-components.yaml"
)

# capi_image <manager name>: the local image reference of a manager.
capi_image() { echo "$CAPI_IMAGE_PREFIX/$1:$CAPI_VERSION"; }
