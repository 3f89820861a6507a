#!/usr/bin/env bash
# Puts vendor/ in place for Bazel: the Go dependencies from go.sum (`go mod vendor`, nothing
# new is fetched) with BUILD files (gazelle) adapted to rules_go v0.34.0 (fixbuild).
# The tree is kept in _out/bazel/vendor and rebuilt only when go.mod, go.sum or the tools
# change; vendor/ itself is a symlink that exists only while Bazel or gazelle runs
# (hack/bazel.sh and hack/bazel/gazelle.sh remove it), so the go command never sees it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$HYPERNEST_ROOT"
"$(dirname "${BASH_SOURCE[0]}")/setup.sh"

store=_out/bazel/vendor
# What vendor/ depends on: the module's requirements, the packages the project imports
# (go mod vendor copies only those), and the tools that write its BUILD files.
imports="$(go list -f '{{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... | tr ' ' '\n' | sort -u)"
stamp="$( { cat go.mod go.sum hack/bazel/fixbuild/*.go third_party/rules_go/*.patch; echo "$imports"; } | sha256sum | cut -c1-16)-$GAZELLE_VERSION"
if [ "$(cat "$store/.hypernest-stamp" 2>/dev/null)" != "$stamp" ]; then
  log "vendoring Go dependencies for Bazel"
  rm -rf vendor "$store"
  go mod vendor
  "$BAZEL_TOOLS_DIR/gazelle" -repo_root=. -go_prefix=github.com/hypernest/hypernest vendor 2>&1 \
    | grep -v 'finding module path for import weak' >&2 || true
  go run ./hack/bazel/fixbuild -rules-go _out/bazel/rules_go vendor >/dev/null
  echo "$stamp" > vendor/.hypernest-stamp
  mv vendor "$store"
fi
rm -rf vendor
ln -s "$store" vendor
