#!/usr/bin/env bash
# The build's version, from git: what Bazel stamps (hack/bazel/workspace-status.sh) and
# what a plain go build links in (-ldflags "$(hack/version.sh ldflags)").
#   hack/version.sh          KEY VALUE lines (HYPERNEST_VERSION, GIT_COMMIT, GIT_TREE_STATE, BUILD_DATE)
#   hack/version.sh ldflags  the -X flags for github.com/hypernest/hypernest/pkg/version
# HYPERNEST_VERSION overrides the version (a release sets it); BUILD_DATE is the commit's
# date, so the same commit builds the same bytes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version="${HYPERNEST_VERSION:-v0.1.0-devel}"
commit="$(git rev-parse HEAD 2>/dev/null || true)"
state=""
date=""
if [ -n "$commit" ]; then
  state=clean
  git diff --quiet HEAD -- 2>/dev/null || state=dirty
  date="$(git show -s --format=%cI HEAD)"
fi
case "${1:-}" in
  ldflags)
    p=github.com/hypernest/hypernest/pkg/version
    echo "-X $p.gitVersion=$version -X $p.gitCommit=$commit -X $p.gitTreeState=$state -X $p.buildDate=$date"
    ;;
  "")
    echo "HYPERNEST_VERSION $version"
    echo "GIT_COMMIT $commit"
    echo "GIT_TREE_STATE $state"
    echo "BUILD_DATE $date"
    ;;
  *) echo "usage: hack/version.sh [ldflags]" >&2; exit 2 ;;
esac
