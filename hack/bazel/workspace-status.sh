#!/usr/bin/env bash
# Bazel workspace status: nothing that changes from build to build (no time, no host),
# so outputs stay reproducible; stamped values come from here only (STABLE_: a change
# relinks what uses them). The version, commit, tree state and commit date: hack/version.sh.
exec "$(dirname "${BASH_SOURCE[0]}")/../version.sh" | sed "s/^/STABLE_/"
