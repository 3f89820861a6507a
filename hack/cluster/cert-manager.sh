#!/usr/bin/env bash
# Builds cert-manager for the local cluster from cert-manager's own Go module (see
# hack/cluster/cert-manager/README.md) and writes what `kubectl apply` or clusterctl
# need, all under $HYPERNEST_CACHE/cert-manager/<version>/:
#   bin/cert-manager     the binary (kept while its sources are unchanged)
#   cert-manager.tar     the image localhost/hypernest/cert-manager:<version>, for ctr import
#   cert-manager.yaml    namespace, CRDs, RBAC and the Deployment
# The last line of stdout is the path of cert-manager.yaml.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

src="$HYPERNEST_ROOT/hack/cluster/cert-manager"
version="$(awk '$1=="github.com/cert-manager/cert-manager"{print $2; exit}' "$src/go.mod")"
[ -n "$version" ] || die "$src/go.mod does not require github.com/cert-manager/cert-manager"
image="localhost/hypernest/cert-manager:$version"
out="$HYPERNEST_CACHE/cert-manager/$version"
bin="$out/bin/cert-manager"
mkdir -p "$out/bin" "$out/logs"
export HEARTBEAT_LOG_DIR="$out/logs"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

command -v go >/dev/null || die "go not found; install Go 1.26 into /usr/local/go"
# Static binaries, like cert-manager's release images.
export CGO_ENABLED=0

# A binary built from other sources than the checkout's is rebuilt: the stamp is a hash
# of the module's files that go into the binary.
stamp="$(cd "$src" && for f in go.mod go.sum *.go; do case "$f" in *_test.go) ;; *) cat "$f" ;; esac; done | sha256sum | cut -d' ' -f1)"
if [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$stamp" ]; then
  log "cert-manager $version is cached in $bin"
else
  log "building cert-manager $version from its Go module (a cold build takes several minutes; log in $out/logs)"
  (cd "$src" && with_heartbeat build-cert-manager \
    go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .)
  mv -f "$bin.tmp" "$bin"
  echo "$stamp" > "$bin.stamp"
  rm -f "$out/cert-manager.tar"
fi

if [ ! -f "$out/cert-manager.tar" ]; then
  log "building the image $image"
  builder="$work/image-builder"
  (cd "$HYPERNEST_ROOT" && with_heartbeat build-image-builder \
    go build -trimpath -o "$builder" ./hack/image-builder)
  "$builder" --tag "$image" --output "$out/cert-manager.tar.tmp" \
    --layer "$bin=/cert-manager" --entrypoint /cert-manager --user 65532:65532 >&2 \
    || die "image-builder could not write $out/cert-manager.tar"
  mv -f "$out/cert-manager.tar.tmp" "$out/cert-manager.tar"
fi

# The CRDs come from the module the binary was built from, all six, so that
# clusterctl's probe (an Issuer and a Certificate) and the providers' objects are
# accepted even though ACME stays off.
(cd "$src" && go mod download github.com/cert-manager/cert-manager) || die "could not download github.com/cert-manager/cert-manager@$version; check GOPROXY=$(go env GOPROXY)"
crds="$(cd "$src" && go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)/deploy/crds"
ls "$crds"/*.yaml >/dev/null 2>&1 || die "cert-manager's CRDs are not in $crds; check that the Go module proxy is reachable (GOPROXY=$(go env GOPROXY))"
{
  echo "# cert-manager $version for the local cluster, written by hack/cluster/cert-manager.sh"
  echo "# from hack/cluster/cert-manager/manifest.yaml and cert-manager's deploy/crds."
  # manifest.yaml's own header is about filling it in, which is done here.
  awk 'body || !/^#/ {body=1; print}' "$src/manifest.yaml" | sed "s|__CERT_MANAGER_IMAGE__|$image|"
  for f in "$crds"/*.yaml; do
    echo "---"
    awk 'NR == 1 && /^---$/ {next} {print}' "$f"
  done
} > "$out/cert-manager.yaml.tmp"
grep -q "__CERT_MANAGER_IMAGE__" "$out/cert-manager.yaml.tmp" && die "the image placeholder was not filled in"
mv -f "$out/cert-manager.yaml.tmp" "$out/cert-manager.yaml"

log "cert-manager $version: import $out/cert-manager.tar into the cluster's containerd, then apply $out/cert-manager.yaml (or give it to clusterctl)"
echo "$out/cert-manager.yaml"
