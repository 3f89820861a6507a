#!/usr/bin/env bash
# Writes the local clusterctl repository $CAPI_REPO from scratch (make capi-repo), so
# that `clusterctl init` and `clusterctl generate cluster` never touch the network:
#   cluster-api/<v>/core-components.yaml                 \  rendered from the Cluster API
#   bootstrap-kubeadm/<v>/bootstrap-components.yaml       > module's kustomize config, with
#   control-plane-kubeadm/<v>/control-plane-components.yaml / the local images
#   infrastructure-kubevirt/<v>/  manifests/capi: infrastructure-components.yaml,
#                                 metadata.yaml, cluster-template*.yaml
#   cert-manager/<v>/cert-manager.yaml   hack/cluster/cert-manager.sh's output
#   clusterctl.yaml               the file:// providers, cert-manager, no version check
# The new repository replaces the old one only once clusterctl renders every provider
# from it. When the local cluster runs, the managers' and cert-manager's images are
# imported into its containerd. hack/capi/build.sh must have run first (make capi-repo
# runs both); hack/clusterctl.sh runs clusterctl with this repository. The last line of
# stdout is the path of clusterctl.yaml.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"

CAPI_MODULE=sigs.k8s.io/cluster-api
# Our infrastructure provider's files; the variable exists for testing the script only.
infra_src="${CAPI_INFRA_MANIFESTS:-$HYPERNEST_ROOT/manifests/capi}"
# The repository is written beside the old one and swapped in when it works.
new="$CAPI_REPO.new"
work="$(mktemp -d)"; trap 'rm -rf "$work" "$new"' EXIT
export GOWORK=off

# ---- Everything the repository is made of must be there before the old one goes.
[ -x "$KUBE_BIN_DIR/kubectl" ] || die "kubectl is missing from $KUBE_BIN_DIR (its kustomize renders the providers); run 'BINS=kubectl hack/kube-binaries.sh'"
[ -x "$CAPI_BIN_DIR/clusterctl" ] || die "clusterctl is missing from $CAPI_BIN_DIR; run hack/capi/build.sh (or 'make capi-repo', which runs both)"
for m in "${CAPI_MANAGERS[@]}"; do
  read -r name _ <<<"$m"
  [ -f "$CAPI_IMAGES_DIR/$name.tar" ] || die "the image tarball $CAPI_IMAGES_DIR/$name.tar is missing; run hack/capi/build.sh (or 'make capi-repo')"
done
for f in infrastructure-components.yaml metadata.yaml; do
  [ -f "$infra_src/$f" ] || die "$infra_src/$f is missing: the infrastructure provider's components and metadata must be in manifests/capi"
done
templates=()
for f in "$infra_src"/cluster-template*.yaml; do [ -f "$f" ] && templates+=("$f"); done
[ ${#templates[@]} -gt 0 ] || log "warning: no cluster-template*.yaml in $infra_src; 'clusterctl generate cluster' will have no template"
[ -x hack/cluster/cert-manager.sh ] || die "hack/cluster/cert-manager.sh is missing: it builds cert-manager, which 'clusterctl init' always installs; add it (the cert-manager work) and rerun"

log "resolving $CAPI_MODULE@$CAPI_VERSION from the Go module proxy"
src_dir="$(module_dir "$CAPI_MODULE@$CAPI_VERSION")"
[ -n "$src_dir" ] && [ -f "$src_dir/metadata.yaml" ] \
  || die "could not download $CAPI_MODULE@$CAPI_VERSION; check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY))"

log "building cert-manager (hack/cluster/cert-manager.sh)"
cm_out="$(hack/cluster/cert-manager.sh)" || die "hack/cluster/cert-manager.sh failed (its output is above); fix it and rerun"
cm_yaml="$(tail -1 <<<"$cm_out")"
[ -f "$cm_yaml" ] || die "hack/cluster/cert-manager.sh did not print the path of cert-manager.yaml as its last line (it printed '$cm_yaml')"
# The script writes $HYPERNEST_CACHE/cert-manager/<version>/cert-manager.yaml.
cm_dir="$(dirname "$cm_yaml")"
cm_version="$(basename "$cm_dir")"
[[ "$cm_version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]] || die "cannot tell cert-manager's version from $cm_yaml (expected .../cert-manager/<version>/cert-manager.yaml)"

# ---- The repository.
rm -rf "$new"
mkdir -p "$new"
log "writing the clusterctl repository $CAPI_REPO"

# The Cluster API providers, rendered as upstream's release does it (kustomize build of
# config/default), from an overlay that swaps in the local image with IfNotPresent: the
# images come from `ctr images import`, never from a registry. clusterctl's
# ${VAR:=default} variables stay as they are; clusterctl fills them in.
# extra_patches <provider label>: kustomize patches one provider gets on top.
# The control plane provider checks each control-plane Machine's etcd member through the
# workload API server's port-forward, with a 10 s dial and a 15 s call timeout; a kubeadm
# control plane under TCG answers the TLS handshake that way in 10-60 s, so its Machine
# never went Ready (EtcdMemberHealthy: "context deadline exceeded while waiting for
# connections to become ready", stop 22's CI). 60 s each, overridable at clusterctl init
# with KCP_ETCD_DIAL_TIMEOUT and KCP_ETCD_CALL_TIMEOUT.
extra_patches() {
  [ "$1" = control-plane-kubeadm ] || return 0
  cat <<'PATCH'
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --etcd-dial-timeout-duration=${KCP_ETCD_DIAL_TIMEOUT:=60s}
    - op: add
      path: /spec/template/spec/containers/0/args/-
      value: --etcd-call-timeout-duration=${KCP_ETCD_CALL_TIMEOUT:=60s}
PATCH
}

for m in "${CAPI_MANAGERS[@]}"; do
  read -r name _ upstream_image config label file <<<"$m"
  image="$(capi_image "$name")"
  overlay="$work/overlay-$label"
  mkdir -p "$overlay" "$new/$label/$CAPI_VERSION"
  # kustomize takes only relative paths to other kustomizations.
  cat > "$overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- $(realpath --relative-to="$overlay" "$src_dir/$config")
images:
- name: $upstream_image
  newName: ${image%:*}
  newTag: $CAPI_VERSION
patches:
- target:
    kind: Deployment
  patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: any
    spec:
      template:
        spec:
          containers:
          - name: manager
            imagePullPolicy: IfNotPresent
$(extra_patches "$label")
EOF
  out="$new/$label/$CAPI_VERSION/$file"
  "$KUBE_BIN_DIR/kubectl" kustomize "$overlay" > "$out" 2> "$work/kustomize.err" \
    || { cat "$work/kustomize.err" >&2; die "kustomize could not render $src_dir/$config"; }
  # Every container must run the local image and never pull it (the CRDs' schemas have
  # image and imagePullPolicy properties too, without values).
  others="$(grep -E '^[[:space:]]*(- )?image: *[^ ]' "$out" | grep -v "image: $image\$" || true)"
  [ -z "$others" ] || die "$out still names other images: $others"
  grep -q "image: $image\$" "$out" || die "$out does not name $image"
  pulls="$(grep -E 'imagePullPolicy: *[^ ]' "$out" | grep -v 'IfNotPresent' || true)"
  [ -z "$pulls" ] || die "$out has a pull policy other than IfNotPresent: $pulls"
  cp "$src_dir/metadata.yaml" "$new/$label/$CAPI_VERSION/metadata.yaml"
  log "  $label/$CAPI_VERSION/$file: $(grep -c '^kind:' "$out") objects, image $image"
done

# Our infrastructure provider, as manifests/capi has it.
infra="$new/infrastructure-kubevirt/$CAPI_INFRA_VERSION"
mkdir -p "$infra"
cp "$infra_src/infrastructure-components.yaml" "$infra_src/metadata.yaml" "$infra/"
for f in "${templates[@]}"; do cp "$f" "$infra/"; done
log "  infrastructure-kubevirt/$CAPI_INFRA_VERSION: infrastructure-components.yaml, metadata.yaml$(for f in "${templates[@]}"; do printf ', %s' "$(basename "$f")"; done)"

mkdir -p "$new/cert-manager/$cm_version"
cp "$cm_yaml" "$new/cert-manager/$cm_version/cert-manager.yaml"
log "  cert-manager/$cm_version/cert-manager.yaml"

# clusterctl reads this with --config (hack/clusterctl.sh passes it). Provider entries
# override clusterctl's built-in ones of the same name and type (kubevirt among them,
# which otherwise points at GitHub). write_config <repository folder> prints it.
write_config() {
  local base="$1"
  cat <<EOF
# The local clusterctl repository, written by hack/capi/repo.sh (make capi-repo); do not
# edit, it is rewritten on every run. Use it through hack/clusterctl.sh.
providers:
- name: cluster-api
  type: CoreProvider
  url: file://$base/cluster-api/$CAPI_VERSION/core-components.yaml
- name: kubeadm
  type: BootstrapProvider
  url: file://$base/bootstrap-kubeadm/$CAPI_VERSION/bootstrap-components.yaml
- name: kubeadm
  type: ControlPlaneProvider
  url: file://$base/control-plane-kubeadm/$CAPI_VERSION/control-plane-components.yaml
- name: kubevirt
  type: InfrastructureProvider
  url: file://$base/infrastructure-kubevirt/$CAPI_INFRA_VERSION/infrastructure-components.yaml

# clusterctl init always installs cert-manager (or probes the one that is there); this
# is hack/cluster/cert-manager.sh's build, its image imported into the local cluster.
cert-manager:
  url: file://$base/cert-manager/$cm_version/cert-manager.yaml
  version: $cm_version

# No check for a newer clusterctl on GitHub after each command.
CLUSTERCTL_DISABLE_VERSIONCHECK: "true"

# Overrides of repository files (overrides/<provider-label>/<version>/<file>). Set, so
# clusterctl never falls back to ~/.cluster-api/overrides; empty on purpose.
overridesFolder: $base/overrides

# No images: section. The components already name the local images; an "all" override
# would also rename our infrastructure provider's image.
EOF
}
mkdir -p "$new/overrides"
write_config "$CAPI_REPO" > "$new/clusterctl.yaml"

# ---- The new repository must work offline before it replaces the old one: every
# provider renders as `clusterctl init` renders it (variables at their defaults), and
# every template's variables can be listed. No cluster is needed for either.
write_config "$new" > "$work/check.yaml"
check() {
  local what="$1"; shift
  XDG_CONFIG_HOME="$CAPI_XDG_CONFIG_HOME" CLUSTERCTL_DISABLE_VERSIONCHECK=true KUBECONFIG=/dev/null \
    "$CAPI_BIN_DIR/clusterctl" --config="$work/check.yaml" "$@" > "$work/check.out" 2>&1 \
    || { cat "$work/check.out" >&2; die "clusterctl cannot use the new repository for $what (clusterctl $*); fix the files above and rerun (the old repository is left as it was)"; }
}
mkdir -p "$CAPI_XDG_CONFIG_HOME"
check "the core provider" generate provider --core "cluster-api:$CAPI_VERSION"
check "the kubeadm bootstrap provider" generate provider --bootstrap "kubeadm:$CAPI_VERSION"
check "the kubeadm control-plane provider" generate provider --control-plane "kubeadm:$CAPI_VERSION"
check "the kubevirt infrastructure provider" generate provider --infrastructure "kubevirt:$CAPI_INFRA_VERSION"
for f in "${templates[@]}"; do
  flavor="$(basename "$f" .yaml)"; flavor="${flavor#cluster-template}"; flavor="${flavor#-}"
  check "$(basename "$f")" generate cluster check --infrastructure "kubevirt:$CAPI_INFRA_VERSION" \
    --target-namespace default ${flavor:+--flavor "$flavor"} --list-variables
done

rm -rf "$CAPI_REPO"
mv "$new" "$CAPI_REPO"
log "clusterctl resolves every provider from $CAPI_REPO"

# ---- The images, into the running local cluster's containerd (as hack/cluster/sync.sh does).
tarballs=()
for m in "${CAPI_MANAGERS[@]}"; do
  read -r name _ <<<"$m"
  tarballs+=("$CAPI_IMAGES_DIR/$name.tar")
done
if [ -f "$cm_dir/cert-manager.tar" ]; then
  tarballs+=("$cm_dir/cert-manager.tar")
else
  log "warning: $cm_dir/cert-manager.tar is missing; cert-manager's image cannot be imported (rerun hack/cluster/cert-manager.sh)"
fi
if [ -n "$(daemon_pid containerd)" ]; then
  for tarball in "${tarballs[@]}"; do
    import_image "$tarball"
    log "imported $(image_names "$tarball" | paste -sd, | sed 's/,/, /g')"
  done
else
  log "the local cluster is not running, so no image was imported: run 'make cluster-up', then 'make capi-repo' again"
fi

log "clusterctl repository: $CAPI_REPO"
log "clusterctl config:     $CAPI_CLUSTERCTL_CONFIG (hack/clusterctl.sh uses it)"
echo "$CAPI_CLUSTERCTL_CONFIG"
