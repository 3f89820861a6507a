#!/usr/bin/env bash
# Deploys Hypernest on the local cluster through its release manifests, as a user would:
# hypernest-operator.yaml, then the KubeVirt object (with useEmulation), then waits until
# virt-operator reports Deployed. Pods of a component whose image was rebuilt under the
# same tag are restarted, so `make cluster-sync` runs what was just built.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$HYPERNEST_ROOT"
kubectl() { hack/kubectl.sh "$@"; }

# Under TCG unless told otherwise: this project's machines have no usable KVM (a
# nested-virt /dev/kvm that hangs guests); HYPERNEST_USE_EMULATION=false on KVM nodes.
use_emulation="${HYPERNEST_USE_EMULATION:-true}"

restart_if_running() {
  local kind=$1 name=$2
  if kubectl -n kubevirt get "$kind" "$name" >/dev/null 2>&1; then
    kubectl -n kubevirt rollout restart "$kind/$name" >/dev/null
  fi
}

log "installing virt-operator (manifests/release/hypernest-operator.yaml)"
already=$(kubectl -n kubevirt get deployment virt-operator -o name 2>/dev/null || true)
kubectl apply -f manifests/release/hypernest-operator.yaml >/dev/null
[ -z "$already" ] || restart_if_running deployment virt-operator
kubectl -n kubevirt rollout status deployment/virt-operator --timeout=5m \
  || die "virt-operator did not start; see: hack/kubectl.sh -n kubevirt describe pods -l kubevirt.io=virt-operator"

kubectl wait --for condition=established --timeout=60s crd/kubevirts.kubevirt.io >/dev/null \
  || die "the KubeVirt CRD is not served; see: hack/kubectl.sh get crd kubevirts.kubevirt.io -o yaml"
log "creating the KubeVirt object (manifests/release/hypernest-cr.yaml, useEmulation=$use_emulation)"
kubectl apply -f manifests/release/hypernest-cr.yaml >/dev/null
kubectl -n kubevirt patch kubevirt kubevirt --type merge \
  -p "{\"spec\":{\"configuration\":{\"developerConfiguration\":{\"useEmulation\":$use_emulation}}}}" >/dev/null
if [ -n "$already" ]; then
  log "restarting the components, to run the images just imported"
  restart_components kubevirt deployment/virt-api deployment/virt-controller daemonset/virt-handler
fi
log "waiting for virt-operator to deploy Hypernest (phase Deployed, condition Available)"
# KubeVirt's own wait: kubectl -n kubevirt wait kv kubevirt --for condition=Available.
deadline=$((SECONDS + 600))
state=""
while [ "$state" != "Deployed Available=True" ]; do
  [ $SECONDS -lt $deadline ] || die "Hypernest is not Deployed and Available after 10 min ($state); see: hack/kubectl.sh -n kubevirt get kubevirt kubevirt -o yaml, and hack/kubectl.sh -n kubevirt get pods"
  sleep 2
  new="$(kubectl -n kubevirt get kubevirt kubevirt -o jsonpath='{.status.phase} Available={.status.conditions[?(@.type=="Available")].status}' 2>/dev/null || true)"
  [ "$new" != " Available=" ] || new="" # no status yet
  [ "$new" = "$state" ] || log "  KubeVirt: ${new:-(no status yet)}"
  state="$new"
done
