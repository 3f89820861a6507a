#!/usr/bin/env bash
# Fails when a generated file (deepcopy code, CRDs, the release and Cluster API manifests,
# BUILD files) differs from what `make generate` produces now. It regenerates into a
# scratch copy of the tree, so it works the same on a clean clone (CI) and on a work tree
# with uncommitted changes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Everything but .git and build outputs; generation only reads sources.
tar --exclude=./.git --exclude=./_out --exclude=./vendor -cf - . | tar -C "$scratch" -xf -
log "regenerating in a scratch copy"
make -s -C "$scratch" generate >/dev/null

# Compare every generated location, including files generation would add or remove.
stale=0
build_files() { (cd "$1" && find . -name BUILD.bazel -not -path './_out/*' -not -path './vendor/*' -not -path './third_party/*' | sort); }
for path in api manifests/crds manifests/release manifests/capi $(build_files "$scratch"); do
  if ! diff -r -q "$HYPERNEST_ROOT/$path" "$scratch/$path" >/dev/null; then
    diff -r -u "$HYPERNEST_ROOT/$path" "$scratch/$path" | head -40 >&2 || true
    stale=1
  fi
done
if [ "$(build_files "$HYPERNEST_ROOT")" != "$(build_files "$scratch")" ]; then
  diff <(build_files "$HYPERNEST_ROOT") <(build_files "$scratch") >&2 || true
  stale=1
fi
if [ "$stale" -ne 0 ]; then
  die "generated files are stale: run 'make generate' and commit the result"
fi
log "generated files are up to date"
