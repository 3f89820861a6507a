#!/usr/bin/env bash
# Benchmark of the local cluster (make bench). Prints figures; asserts nothing.
#  - cold cluster-up: no certificates, no image store (binaries cached), to node Ready
#  - warm cluster-up: the second start, to node Ready
#  - idle RSS of every daemon
#  - create -> Running latency of 20 pods created at once
#  - VMIs (all components): create -> Running, boot, launcher memory; a burst of 10
#    booting guests, bursts of 10 and 100 paused ones (VMI_BURSTS); CPU-seconds per VMI
#    start, virt-controller's memory, OOM kills
#  - density: KWOK_VMIS (default 10,000) VMIs on KWOK_NODES (100) fake nodes played by
#    KWOK, as KubeVirt's density test does: time until virt-controller scheduled them all,
#    its CPU time and memory (KWOK_VMIS=0 skips it)
#  - live migration: MIGRATIONS (default 4) migrations of a booted guest between node 1
#    and a second node added at the end: create -> Succeeded and the guest's pause at the
#    switch-over (MIGRATIONS=0 skips it)
# and writes the VMI figures as JSON with stable keys to $BENCH_OUT (default
# _out/bench/latest.json), with the latency distribution as an SVG beside it.
# It needs the node to itself: it refuses to run while a local cluster is up.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../cluster/common.sh"
cd "$HYPERNEST_ROOT"

for d in "${HN_DAEMONS[@]}"; do
  [ -z "$(daemon_pid "$d")" ] || die "a local cluster is running; the benchmark starts its own. Stop it with 'make cluster-down' first"
done
hack/kube-binaries.sh >/dev/null
hack/runtime-binaries.sh >/dev/null
kwok_vmis="${KWOK_VMIS:-10000}"
if [ "$kwok_vmis" -gt 0 ]; then
  # From the Go module proxy into the cache, once (a few minutes); KWOK_VMIS=0 skips it.
  HEARTBEAT_LOG_DIR="$(dirname "$(dirname "$KWOK_BIN")")" GOFLAGS=-buildvcs=false \
    go_install "$(dirname "$KWOK_BIN")" "kwok-$KWOK_VERSION" "$(basename "$KWOK_BIN")" -- "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi
trap 'hack/cluster/down.sh --quiet >/dev/null 2>&1 || true' EXIT

results=()
report() { results+=("$(printf '%-44s %s' "$1" "$2")"); }
up_timing() { sed -n "s/^$1=//p" "$HN_LOGS/up-timings"; }

log "cold start: removing the cluster's certificates and image store"
rm -rf "$HN_CLUSTER"
t0=$(date +%s.%N)
hack/cluster/images.sh >/dev/null 2>&1
hack/cluster/up.sh 2>/dev/null
cold_total=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
report "cold cluster-up: to node Ready" "$(up_timing node_ready) s (+ image build; all add-ons ready: $cold_total s)"
hack/cluster/down.sh >/dev/null 2>&1

log "warm start"
hack/cluster/up.sh 2>/dev/null
warm_up_s="$(up_timing node_ready)"
report "warm cluster-up: to node Ready" "$warm_up_s s (DNS ready: $(up_timing all_ready) s)"

log "letting the cluster settle for 20 s, then reading RSS"
sleep 20
for d in "${HN_DAEMONS[@]}"; do
  pid="$(daemon_pid "$d")"
  report "idle RSS $d" "$(awk '/^VmRSS/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")"
done

log "pod create -> Running latency, 20 pods at once"
hack/cluster/sync.sh >/dev/null 2>&1
report "20 pods create -> Running" "$(go run ./hack/bench/podlatency --kubeconfig "$HN_KUBECONFIG" --pods 20 --image "$HN_TESTSERVER_IMAGE")"

bursts="${VMI_BURSTS:-10,100}"
bench_out="${BENCH_OUT:-$HYPERNEST_ROOT/_out/bench/latest.json}"
log "VMIs: create -> Running, TCG boot to the cloud-init marker, launcher memory (3 VMIs); bursts of $bursts"
conformance="${HYPERNEST_CONFORMANCE_DIR:-$HYPERNEST_ROOT/../shared/conformance/kubevirt-examples}"
vmi_rc=0
vmi_log="$(mktemp)"
# Shown as it runs (the bursts take minutes), and again in the summary.
kwok_args=()
[ "$kwok_vmis" -eq 0 ] || kwok_args=(--kwok-binary "$KWOK_BIN" --kwok-vmis "$kwok_vmis" --kwok-nodes "${KWOK_NODES:-100}")
go run ./hack/bench/vmi --kubeconfig "$HN_KUBECONFIG" --conformance "$conformance" --count 3 --bursts "$bursts" \
  --json "$bench_out" --cluster-up-warm-s "$warm_up_s" "${kwok_args[@]}" 2>&1 | tee "$vmi_log" || vmi_rc=$?
vmi_report="$(cat "$vmi_log")"
rm -f "$vmi_log"

# Live migration needs a second node, added only now so that the figures above are the
# one node's, as before.
migrations="${MIGRATIONS:-4}"
migration_rc=0
migration_report="not run (MIGRATIONS=0, or the VMI benchmark failed)"
if [ "$migrations" -gt 0 ] && [ "$vmi_rc" -eq 0 ]; then
  log "live migration: a second node (hack/cluster/node-up.sh 2), then $migrations migrations of a booted guest between the nodes"
  migration_log="$(mktemp)"
  { hack/cluster/node-up.sh 2 && go run ./hack/bench/vmi --kubeconfig "$HN_KUBECONFIG" --conformance "$conformance" \
      --migrations "$migrations" --json "$bench_out"; } 2>&1 | tee "$migration_log" || migration_rc=$?
  migration_report="$(cat "$migration_log")"
  rm -f "$migration_log"
fi

echo
echo "Local cluster benchmark ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${results[@]}"
echo
echo "VMI benchmark"
echo "$vmi_report"
echo
echo "Live migration benchmark"
echo "$migration_report"
# Every figure is printed above, even when a VMI was lost; the run still fails then.
[ "$vmi_rc" -eq 0 ] || die "the VMI benchmark failed (exit $vmi_rc); see the lines above"
[ "$migration_rc" -eq 0 ] || die "the live migration benchmark failed (exit $migration_rc); see the lines above"
