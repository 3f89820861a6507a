#!/usr/bin/env bash
# Bazel workspace status: nothing that changes from build to build (no time, no host),
# so outputs stay reproducible. Stamped values come from here only.
echo "STABLE_HYPERNEST_VERSION ${HYPERNEST_VERSION:-devel}"
