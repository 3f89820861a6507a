#!/usr/bin/env bash
# restart-daemon.sh <name>: stops one daemon of the running local cluster (etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet, kube-proxy)
# and starts it again with the same command line, then waits until it serves. The fault
# tests use it to take the control plane away under a stream of VM starts and stops; the
# log of the run before is kept as <name>.log.1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

name="${1:-}"
[ -n "$name" ] || die "usage: hack/cluster/restart-daemon.sh <daemon>; the daemons of the local cluster have PID files in $HN_PIDS"
pid="$(daemon_pid "$name")"
[ -n "$pid" ] || die "$name is not running in the local cluster; start the cluster with make cluster-up"
# The daemon's own command line, as start_daemon started it.
mapfile -d '' cmd < "/proc/$pid/cmdline"
[ ${#cmd[@]} -gt 0 ] || die "could not read the command line of $name (pid $pid)"
bin="$(readlink "/proc/$pid/exe")"

stop_daemon "$name"
[ ! -f "$HN_LOGS/$name.log" ] || mv "$HN_LOGS/$name.log" "$HN_LOGS/$name.log.1"
PATH="$RUNTIME_BIN_DIR:$PATH" start_daemon "$name" "$bin" "${cmd[@]:1}"

case "$name" in
  etcd) wait_for 60 "etcd to be healthy" etcd etcd_healthy ;;
  kube-apiserver) wait_for 120 "kube-apiserver to be ready" kube-apiserver api_ready ;;
  containerd) wait_for 30 "containerd to answer" containerd hn_ctr version ;;
  *) sleep 1; [ -n "$(daemon_pid "$name")" ] || die "$name did not stay up; see $HN_LOGS/$name.log" ;;
esac
log "restarted $name (pid $(daemon_pid "$name"))"
