#!/usr/bin/env bash
# make fresh-check: the README's first-use promise, checked the way a newcomer meets it.
# From a clean clone of HEAD and an empty HYPERNEST_CACHE it runs
#   make run    (cold: everything is built and brought up from nothing)
#   make run    (again: the README says a rerun restarts the VM)
#   make test   (as the README's second command: with make run's cluster still up)
#   make test   (again, warm)
# and prints how long each step took. Run it before resolving an issue that touches
# set-up, builds or caches, and copy its figures into the README's "First use" section.
#
# The Go-built Kubernetes and node runtime binaries (~25 min on 2 cores) are copied in
# from the usual cache unless FRESH_CHECK_REUSE_BINARIES=0; they are built by scripts
# the check still runs (they find the copies and skip), and a fresh machine builds them
# exactly the same way. The Go module and build caches of the machine are reused unless
# FRESH_CHECK_GO_CACHE=empty (then the go command starts from nothing too).
#
#   FRESH_CHECK_DIR   where the clone and the empty cache go (default /var/tmp/hypernest-fresh-check)
#   FRESH_CHECK_KEEP=1  keep that folder afterwards (it is removed by default)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"
cd "$HYPERNEST_ROOT"

[ "$(id -u)" -eq 0 ] || die "fresh-check runs the local cluster, which needs root"
dir="${FRESH_CHECK_DIR:-/var/tmp/hypernest-fresh-check}"
reuse="${FRESH_CHECK_REUSE_BINARIES:-1}"
conformance="$(cd "$HYPERNEST_ROOT/.." && pwd)/shared/conformance/kubevirt-examples"
conformance="${HYPERNEST_CONFORMANCE_DIR:-$conformance}"

if [ -n "$(daemon_pid kube-apiserver)" ]; then
  log "taking down the running local cluster: the check needs the machine's node to itself"
  hack/cluster/down.sh
fi
[ -z "$(git status --porcelain)" ] || log "note: the working tree has uncommitted changes; the check runs HEAD ($(git rev-parse --short HEAD)) without them"

log "preparing $dir: a clean clone of HEAD and an empty cache"
rm -rf "$dir"
mkdir -p "$dir"
# A cold run fills a Bazel output base and disk cache, the node's image store and the
# Go caches: about 20 GB (measured: a check on a disk with 16 GB free ran out in the
# Bazel build). Fail now, with what to free, rather than half-way.
need_gb="${FRESH_CHECK_NEED_GB:-22}"
free_gb=$(df -P -BG "$dir" | awk 'NR==2 {sub("G", "", $4); print $4}')
[ "$free_gb" -ge "$need_gb" ] || die "only ${free_gb} GB free on the disk of $dir; a cold check needs about ${need_gb} GB (FRESH_CHECK_NEED_GB). \
Free space first: old Bazel output bases under $HYPERNEST_CACHE/bazel/root (one per checkout path), 'go clean -cache', or FRESH_CHECK_DIR on a bigger disk"
git clone --quiet --no-hardlinks "$HYPERNEST_ROOT" "$dir/hypernest"
fresh_cache="$dir/cache"
mkdir -p "$fresh_cache"
reused="nothing"
if [ "$reuse" = 1 ]; then
  for bin_dir in "$KUBE_BIN_DIR" "$RUNTIME_BIN_DIR"; do
    [ -d "$bin_dir" ] || die "$bin_dir is missing: build it first (hack/kube-binaries.sh, hack/runtime-binaries.sh) or run with FRESH_CHECK_REUSE_BINARIES=0"
    rel="${bin_dir#"$HYPERNEST_CACHE"/}"
    mkdir -p "$fresh_cache/$rel"
    cp -a "$bin_dir/." "$fresh_cache/$rel/"
  done
  reused="the Go-built Kubernetes and runtime binaries (copied from $HYPERNEST_CACHE)"
fi
log "reusing: $reused"
go_env=()
if [ "${FRESH_CHECK_GO_CACHE:-}" = empty ]; then
  go_env=(GOCACHE="$dir/go-build" GOMODCACHE="$dir/go-mod")
  log "the go command starts with empty build and module caches"
else
  log "reusing the machine's Go build and module caches (FRESH_CHECK_GO_CACHE=empty to start those empty too)"
fi

figures=()
# step <label> <make target>: runs it in the clone against the fresh cache, timed.
step() {
  local label="$1" target="$2" started rc=0
  log "=== $label: make $target"
  started=$(date +%s)
  (cd "$dir/hypernest" && env -u KUBECONFIG HYPERNEST_CACHE="$fresh_cache" HYPERNEST_CONFORMANCE_DIR="$conformance" "${go_env[@]}" make "$target") || rc=$?
  local took=$(( $(date +%s) - started ))
  figures+=("$(printf '%-42s %5ss  (%dm%02ds)%s' "$label" "$took" $((took / 60)) $((took % 60)) "$([ $rc -eq 0 ] || echo "  FAILED, exit $rc")")")
  if [ $rc -ne 0 ]; then
    report
    die "$label failed (exit $rc); the clone and cache stay in $dir for a look"
  fi
}
report() {
  echo
  echo "fresh-check of $(git rev-parse --short HEAD) on $(nproc) cores; reused: $reused"
  printf '  %s\n' "${figures[@]}"
}
cleanup() {
  (cd "$dir/hypernest" 2>/dev/null && HYPERNEST_CACHE="$fresh_cache" hack/cluster/down.sh --quiet >/dev/null 2>&1) || true
  # Bazel keeps a server per output root; the fresh one is not needed any more.
  (cd "$dir/hypernest" 2>/dev/null && HYPERNEST_CACHE="$fresh_cache" hack/bazel.sh shutdown >/dev/null 2>&1) || true
}
trap cleanup EXIT

step "make run, cold (empty cache)" run
step "make run, again (restarts the VM)" run
step "make test, first (after make run)" test
step "make test, again (warm)" test
report
if [ "${FRESH_CHECK_KEEP:-}" != 1 ]; then
  cleanup
  trap - EXIT
  rm -rf "$dir"
fi
