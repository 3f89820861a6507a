#!/usr/bin/env bash
# Fails when a generated file (deepcopy code, CRDs) differs from what `make generate`
# produces now. It regenerates into a scratch copy of the tree, so it works the same on a
# clean clone (CI) and on a work tree with uncommitted changes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# Everything but .git and build outputs; generation only reads sources.
tar --exclude=./.git --exclude=./_out -cf - . | tar -C "$scratch" -xf -
log "regenerating in a scratch copy"
make -s -C "$scratch" generate >/dev/null

# Compare every generated location, including files generation would add or remove.
stale=0
for path in api manifests/crds; do
  if ! diff -r -q "$HYPERNEST_ROOT/$path" "$scratch/$path" >/dev/null; then
    diff -r -u "$HYPERNEST_ROOT/$path" "$scratch/$path" | head -40 >&2 || true
    stale=1
  fi
done
if [ "$stale" -ne 0 ]; then
  die "generated files are stale: run 'make generate' and commit the result"
fi
log "generated files are up to date"
