package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// evacuateCancelVM is PUT .../virtualmachines/{name}/evacuate/cancel: the VM's VMI stops
// evacuating (evacuateCancel).
func (a *API) evacuateCancelVM(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	ctx := r.Context()
	vm := &v1.VirtualMachine{}
	if err := a.Reader.Get(ctx, name, vm); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	vmi, err := a.getVMI(ctx, name)
	if err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	if vmi == nil || !isControlledBy(vmi, vm) {
		writeStatus(w, apierrors.NewConflict(vmResource, name.Name, errors.New("VMI is not started")))
		return
	}
	a.evacuateCancel(w, r, vmi)
}

// evacuateCancelVMI is PUT .../virtualmachineinstances/{name}/evacuate/cancel.
func (a *API) evacuateCancelVMI(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	vmi := &v1.VirtualMachineInstance{}
	if err := a.Reader.Get(r.Context(), name, vmi); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	a.evacuateCancel(w, r, vmi)
}

// evacuateCancel clears the VMI's status.evacuationNodeName, as KubeVirt's evacuate/cancel:
// virt-controller makes no new evacuation migration for it (one in flight goes on; virtctl
// migrate-cancel stops it), and an External VMI is left alone by whoever moves it. A drain
// still running marks the VMI again at its next eviction of the pod: stop the drain and
// uncordon the node first. A VMI that is not evacuating answers 200 as it is. The status
// patch tests the node the caller names (or the one read here), so a cancel never clears
// a newer evacuation from another node.
func (a *API) evacuateCancel(w http.ResponseWriter, r *http.Request, vmi *v1.VirtualMachineInstance) {
	if vmi.Status.EvacuationNodeName == "" {
		w.WriteHeader(http.StatusOK)
		return
	}
	opts := &subresourcesv1.EvacuateCancelOptions{}
	if err := decodeBody(r, opts); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	node := opts.EvacuationNodeName
	if node == "" {
		node = vmi.Status.EvacuationNodeName
	}
	if err := a.clearEvacuation(r.Context(), vmi, node, isDryRun(opts.DryRun)); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (a *API) clearEvacuation(ctx context.Context, vmi *v1.VirtualMachineInstance, node string, dryRun bool) error {
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/status/evacuationNodeName", "value": node},
		{"op": "remove", "path": "/status/evacuationNodeName"},
	})
	if err != nil {
		return err
	}
	var opts []client.SubResourcePatchOption
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	err = a.Client.Status().Patch(ctx, vmi, client.RawPatch(types.JSONPatchType, patch), opts...)
	if apierrors.IsInvalid(err) {
		// The test failed (422): the VMI evacuates from another node now, or no more.
		current, getErr := a.getVMI(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: vmi.Name})
		if getErr == nil && current != nil && current.Status.EvacuationNodeName == "" {
			return nil
		}
		return apierrors.NewConflict(vmiResource, vmi.Name, fmt.Errorf("the VMI is not evacuating from node %s (it may have moved on); read it again and retry", node))
	}
	return err
}

// isControlledBy: the VMI is the VM's (its controller reference names the VM's UID).
func isControlledBy(vmi *v1.VirtualMachineInstance, vm *v1.VirtualMachine) bool {
	for _, ref := range vmi.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && ref.UID == vm.UID {
			return true
		}
	}
	return false
}
