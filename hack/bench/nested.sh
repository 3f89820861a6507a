#!/usr/bin/env bash
# Benchmark of a nested cluster (make bench, after the local cluster's): runs the nested
# cluster functional test (1 control plane + 1 worker from the node image, under TCG
# here) and prints the figures it measures: kubectl apply -> control plane ready,
# kubectl apply -> all nodes Ready, and each node VM's memory (guest, launcher pod
# request and working set, and the overheads). Asserts nothing itself; the run fails if
# the test does.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/common.sh"
cd "$HYPERNEST_ROOT"

out="$(mktemp)"
trap 'rm -f "$out"' EXIT
log "nested cluster: make functest-nested (about 30 min under TCG; its log goes to $HN_LOGS/bench-nested.log)"
mkdir -p "$HN_LOGS"
rc=0
HYPERNEST_NESTED=1 GINKGO_FLAGS="-v" hack/functest.sh >"$HN_LOGS/bench-nested.log" 2>&1 || rc=$?
grep -a -o 'nested-bench: .*' "$HN_LOGS/bench-nested.log" | sed 's/^nested-bench: //' >"$out" || true

echo
echo "Nested cluster benchmark ($(nproc) cores, TCG unless the node has KVM; goal: apply -> all nodes Ready in 15 min)"
cat "$out"
[ "$rc" -eq 0 ] || die "the nested cluster test failed (exit $rc); see $HN_LOGS/bench-nested.log"
