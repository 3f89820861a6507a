#!/usr/bin/env bash
# Builds Cluster API at CAPI_VERSION (hack/capi/common.sh) from the Go module proxy into
# the cache outside the checkout, no GitHub and no registry involved:
#   $CAPI_BIN_DIR      cluster-api-manager, kubeadm-bootstrap-manager,
#                      kubeadm-control-plane-manager, clusterctl
#   $CAPI_IMAGES_DIR   <manager>.tar: the image localhost/hypernest/capi/<manager>:<version>
#                      (OCI layout tarball, for `ctr images import`; hack/capi/repo.sh imports them)
# Idempotent: a binary already in the cache is not rebuilt, an image is rebuilt only when
# it is missing or older than its binary. Prints the bin folder as the last stdout line.
#
# A cold build takes about 10 minutes of CPU on 2 cores (cluster-api-manager is the
# biggest); on a busy machine much longer. Logs are in $CAPI_BUILD_DIR/logs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CAPI_MODULE=sigs.k8s.io/cluster-api
wrapper="$CAPI_BUILD_DIR/module"
mkdir -p "$CAPI_BIN_DIR" "$CAPI_IMAGES_DIR" "$wrapper" "$CAPI_BUILD_DIR/logs"
export HEARTBEAT_LOG_DIR="$CAPI_BUILD_DIR/logs"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

command -v go >/dev/null || die "go not found; install Go 1.26 into /usr/local/go"
# Static binaries, as upstream's release images have them (distroless/static).
export CGO_ENABLED=0
export GOFLAGS="-mod=mod -buildvcs=false"
# The wrapper module lives outside the checkout; never let a go.work pull it in.
export GOWORK=off

# The release's source: its folder in the module cache, its commit and its date.
log "resolving $CAPI_MODULE@$CAPI_VERSION from the Go module proxy"
info="$(cd "$work" && go mod download -json "$CAPI_MODULE@$CAPI_VERSION")" \
  || die "could not download $CAPI_MODULE@$CAPI_VERSION; check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY)) and that the version exists"
json_field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$info" | head -1; }
src_dir="$(json_field Dir)"
commit="$(json_field Hash)"
# The release's commit time, not the time of this build: the binaries stay reproducible.
release_date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$(json_field Info)")"
[ -f "$src_dir/go.mod" ] || die "$CAPI_MODULE@$CAPI_VERSION has no go.mod in $src_dir; delete that folder with 'go clean -modcache' or check GOPROXY"

# Version stamping as upstream's hack/scripts/release/version.sh does it, so
# `clusterctl version` and the managers' start-up log tell the truth.
major="${CAPI_VERSION#v}"; major="${major%%.*}"; minor="${CAPI_VERSION#v*.}"; minor="${minor%%.*}"
ldflags="-s -w"
for kv in "gitVersion=$CAPI_VERSION" "gitMajor=$major" "gitMinor=$minor" "gitTreeState=clean" \
  "gitCommit=$commit" "gitReleaseCommit=$commit" "buildDate=$release_date"; do
  ldflags+=" -X $CAPI_MODULE/version.$kv"
done

# <binary> <package>: the managers from CAPI_MANAGERS, then clusterctl.
targets=()
for m in "${CAPI_MANAGERS[@]}"; do
  read -r name pkg _ <<<"$m"
  targets+=("$name $pkg")
done
targets+=("clusterctl cmd/clusterctl")

missing=()
for t in "${targets[@]}"; do
  read -r name _ <<<"$t"
  [ -x "$CAPI_BIN_DIR/$name" ] || missing+=("$t")
done

if [ ${#missing[@]} -eq 0 ]; then
  log "Cluster API $CAPI_VERSION binaries are cached in $CAPI_BIN_DIR"
else
  # The root module replaces sigs.k8s.io/cluster-api/api with its own ./api folder, so
  # `go install module@version` refuses it. A wrapper module requires both modules and
  # names the published api module instead (a dependency's replace does not apply).
  if [ ! -f "$wrapper/go.sum" ] || ! grep -q "$CAPI_MODULE $CAPI_VERSION" "$wrapper/go.mod" 2>/dev/null; then
    log "writing the wrapper module $wrapper"
    gover="$(awk '$1=="go"{print $2; exit}' "$src_dir/go.mod")"
    {
      printf 'module hypernest.local/capibuild\n\ngo %s\n\n' "$gover"
      printf 'require (\n\t%s %s\n\t%s/api %s\n)\n\n' "$CAPI_MODULE" "$CAPI_VERSION" "$CAPI_MODULE" "$CAPI_VERSION"
      printf 'replace %s/api => %s/api %s\n\ntool (\n' "$CAPI_MODULE" "$CAPI_MODULE" "$CAPI_VERSION"
      for t in "${targets[@]}"; do read -r _ pkg <<<"$t"; printf '\t%s/%s\n' "$CAPI_MODULE" "$pkg"; done
      printf ')\n'
    } > "$wrapper/go.mod"
    rm -f "$wrapper/go.sum"
    (cd "$wrapper" && with_heartbeat capi-mod-tidy go mod tidy)
  fi
  log "building ${#missing[@]} Cluster API $CAPI_VERSION binaries into $CAPI_BIN_DIR (logs in $HEARTBEAT_LOG_DIR)"
  for t in "${missing[@]}"; do
    read -r name pkg <<<"$t"
    log "building $name ($CAPI_MODULE/$pkg)"
    # fieldsv1string: the build tag upstream's Dockerfile sets for the managers.
    (cd "$wrapper" && with_heartbeat "build-$name" go build -trimpath -tags=fieldsv1string \
      -ldflags "$ldflags" -o "$CAPI_BIN_DIR/.$name.tmp" "$CAPI_MODULE/$pkg")
    mv -f "$CAPI_BIN_DIR/.$name.tmp" "$CAPI_BIN_DIR/$name"
    log "  $name: $(du -h "$CAPI_BIN_DIR/$name" | cut -f1)"
  done
fi

for t in "${targets[@]}"; do
  read -r name _ <<<"$t"
  [ -x "$CAPI_BIN_DIR/$name" ] || die "$name is missing from $CAPI_BIN_DIR after the build; see $HEARTBEAT_LOG_DIR"
done
# clusterctl checks GitHub for a newer release after every command unless told not to.
v="$(XDG_CONFIG_HOME="$CAPI_XDG_CONFIG_HOME" CLUSTERCTL_DISABLE_VERSIONCHECK=true "$CAPI_BIN_DIR/clusterctl" version -o short 2>&1)" \
  || die "the cached clusterctl does not run: $v; delete $CAPI_BIN_DIR and rerun $0"
[ "$v" = "$CAPI_VERSION" ] || die "the cached clusterctl says it is $v, not $CAPI_VERSION; delete $CAPI_BIN_DIR and rerun $0"

# The images: the binary as /manager (the Deployments in the kustomize config run
# `/manager`), user 65532 like upstream's distroless/static:nonroot base.
builder=""
for m in "${CAPI_MANAGERS[@]}"; do
  read -r name _ <<<"$m"
  bin="$CAPI_BIN_DIR/$name" tar="$CAPI_IMAGES_DIR/$name.tar" image="$(capi_image "$name")"
  if [ -f "$tar" ] && [ ! "$bin" -nt "$tar" ] && [ "$(image_names "$tar" 2>/dev/null)" = "$image" ]; then
    log "image $image is cached in $tar"
    continue
  fi
  if [ -z "$builder" ]; then
    builder="$work/image-builder"
    log "building hack/image-builder"
    (cd "$HYPERNEST_ROOT" && with_heartbeat build-image-builder go build -trimpath -o "$builder" ./hack/image-builder)
  fi
  log "building the image $image"
  labels=(--label "org.opencontainers.image.source=https://github.com/kubernetes-sigs/cluster-api"
    --label "org.opencontainers.image.version=$CAPI_VERSION")
  [ -z "$commit" ] || labels+=(--label "org.opencontainers.image.revision=$commit")
  "$builder" --tag "$image" --output "$tar" --layer "$bin=/manager" --entrypoint /manager \
    --user 65532:65532 "${labels[@]}" >&2 || die "image-builder could not write $tar"
  log "  $tar: $(du -h "$tar" | cut -f1)"
done

log "Cluster API $CAPI_VERSION: binaries in $CAPI_BIN_DIR, images in $CAPI_IMAGES_DIR; run hack/capi/repo.sh for the clusterctl repository"
echo "$CAPI_BIN_DIR"
