#!/usr/bin/env bash
# Regenerates the project's BUILD files with gazelle (make gazelle). They are committed;
# make generate-verify fails when they are stale.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$HYPERNEST_ROOT"

"$(dirname "${BASH_SOURCE[0]}")/vendor.sh"
# gazelle does not follow the vendor/ link, so the tree moves into place while it runs.
rm -f vendor
mv _out/bazel/vendor vendor
trap 'mv vendor _out/bazel/vendor' EXIT
# gazelle must see vendor/ to resolve imports to //vendor labels, and so rewrites its
# BUILD files too; fixbuild then brings them back to what hack/bazel/vendor.sh made.
"$BAZEL_TOOLS_DIR/gazelle" -repo_root=. -go_prefix=github.com/hypernest/hypernest 2>&1 \
  | grep -v 'finding module path for import weak' >&2 || true
go run ./hack/bazel/fixbuild -rules-go _out/bazel/rules_go vendor >/dev/null
