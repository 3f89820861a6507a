#!/usr/bin/env bash
# make run: the README's first command. On a fresh machine it installs what is missing,
# brings up the local cluster, installs Hypernest through virt-operator (the release
# manifests, as a user would), boots the example VM and shows its console, then says how
# to go on. Every step prints progress; every failure says what to look at.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/cluster/common.sh"
cd "$HYPERNEST_ROOT"
export PATH="/usr/local/go/bin:$PATH" GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false"

kubectl() { hack/kubectl.sh "$@"; }
virtctl() { hack/virtctl.sh "$@"; }

log "checking the Debian packages"
hack/install-deps.sh
log "building the Kubernetes and node runtime binaries when missing (cached; a cold build takes ~25 min)"
hack/kube-binaries.sh
hack/runtime-binaries.sh
if [ -z "$(daemon_pid kube-apiserver)" ]; then
  make -s cluster-up
else
  log "the local cluster is already up; using it"
fi
log "building Hypernest's images and importing them into the node (cached; a cold build takes ~15 min)"
hack/cluster/sync.sh

hack/cluster/deploy.sh

log "creating the example VM (examples/vm-demo.yaml) and starting it"
# Created once: applying it again would put its runStrategy back to Halted.
kubectl get vm vm-demo >/dev/null 2>&1 || kubectl create -f examples/vm-demo.yaml >/dev/null
old_uid="$(kubectl get vmi vm-demo -o jsonpath='{.metadata.uid}' 2>/dev/null || true)"
status="$(kubectl get vm vm-demo -o jsonpath='{.status.printableStatus}')"
strategy="$(kubectl get vm vm-demo -o jsonpath='{.spec.runStrategy}')"
if [ "$status" = Running ]; then
  # Running from an earlier make run: restart it, to show its boot again.
  virtctl restart vm-demo || die "virtctl restart failed; see: hack/kubectl.sh describe vm vm-demo"
elif [ "$strategy" = Always ]; then
  # Started by an earlier, interrupted make run: it is on its way already.
  log "vm-demo is already starting (status ${status:-none yet})"
  old_uid=""
else
  virtctl start vm-demo || die "virtctl start failed; see: hack/kubectl.sh describe vm vm-demo"
  old_uid=""
fi
# Wait for the instance to show the boot of: virtctl console refuses a VM without one
# (virt-controller, just deployed, may take seconds to make it), and after a restart the
# old instance keeps its console until its guest is gone.
deadline=$((SECONDS + 120))
while uid="$(kubectl get vmi vm-demo -o jsonpath='{.metadata.uid}' 2>/dev/null || true)"; \
      [ -z "$uid" ] || [ "$uid" = "$old_uid" ]; do
  [ $SECONDS -lt $deadline ] || die "vm-demo has no new instance 2 min after it was started; see: hack/kubectl.sh describe vm vm-demo, and hack/kubectl.sh -n kubevirt logs deploy/virt-controller"
  sleep 1
done
# console_failed prints what explains a console that showed no cloud-init line: the
# console so far, the instance's state, and the stream lines of virt-api and virt-handler.
console_failed() {
  cat "$console_log"
  echo "--- vm-demo's instance:"
  kubectl get vmi vm-demo -o jsonpath='phase {.status.phase} on {.status.nodeName}; conditions {range .status.conditions[*]}{.type}={.status} {end}{"\n"}' || true
  echo "--- streams in virt-api and virt-handler (last 10 min):"
  { kubectl -n kubevirt logs deploy/virt-api --since=10m; kubectl -n kubevirt logs ds/virt-handler --since=10m; } 2>&1 \
    | grep -E 'stream|took over' | tail -20 || true
  die "$1"
}
log "its serial console (virtctl console vm-demo), until the cloud-init script has run:"
console_log="$(mktemp)"
# stdin is /dev/null: virtctl keeps showing the console after its input ends.
hack/virtctl.sh console vm-demo </dev/null >"$console_log" 2>&1 &
console_pid=$!
trap 'kill "$console_pid" 2>/dev/null || true; rm -f "$console_log"' EXIT
deadline=$((SECONDS + 300))
until grep -q 'hello from the Hypernest demo VM' "$console_log"; do
  if ! kill -0 "$console_pid" 2>/dev/null; then
    console_failed "virtctl console ended before the guest printed its cloud-init line; see: hack/kubectl.sh get vm,vmi vm-demo -o yaml"
  fi
  [ $SECONDS -lt $deadline ] || console_failed "the guest did not print its cloud-init line within 5 min; see: hack/kubectl.sh get vmi vm-demo -o yaml, and hack/kubectl.sh -n kubevirt logs ds/virt-handler"
  sleep 1
done
sleep 2
kill "$console_pid" 2>/dev/null || true
# Carriage returns and the terminal queries of the guest's shell, for a plain log.
tr -d '\r' <"$console_log" | sed -e 's/\x1b\[[0-9;]*[a-zA-Z]//g' -e 's/^/    | /'

cat <<EOT

Hypernest runs on the local cluster, and so does the VM vm-demo. Go on with:
  hack/kubectl.sh get kubevirt,vm,vmi -A        # kubectl against the local cluster
  hack/virtctl.sh console vm-demo               # its console: log in as cirros, password gocubsgo (leave with Ctrl+])
  hack/virtctl.sh stop vm-demo                  # stop, start, restart, pause, unpause, vnc
  export KUBECONFIG=$HN_KUBECONFIG              # for your own kubectl
  make cluster-down                             # stop everything
EOT
