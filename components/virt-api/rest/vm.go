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

// Start, stop and restart never touch a VMI or pod themselves: they change the VM (its
// run strategy, or a state change request in its status) and virt-controller acts on it.

func (a *API) start(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	opts := &subresourcesv1.StartOptions{}
	if err := decodeBody(r, opts); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	ctx := r.Context()
	vm := a.getVM(ctx, w, name)
	if vm == nil {
		return
	}
	vmi, err := a.getVMI(ctx, name)
	if err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	live := vmi != nil && !vmi.Status.Phase.IsFinal()
	if live && vmi.DeletionTimestamp == nil {
		writeStatus(w, apierrors.NewConflict(vmResource, name.Name, errors.New("VM is already running")))
		return
	}
	request := v1.VirtualMachineStateChangeRequest{Action: v1.StartRequest}
	if opts.Paused {
		request.Data = map[string]string{v1.StartRequestDataPausedKey: v1.StartRequestDataPausedTrue}
	}
	strategy := vm.EffectiveRunStrategy()
	switch strategy {
	case v1.RunStrategyHalted:
		if opts.Paused {
			// Only a request can say "paused": virt-controller switches the VM to Always
			// when it takes a start request of a Halted VM.
			err = a.addRequests(ctx, vm, isDryRun(opts.DryRun), request)
		} else {
			err = a.patchRunStrategy(ctx, vm, v1.RunStrategyAlways, isDryRun(opts.DryRun))
		}
	case v1.RunStrategyManual, v1.RunStrategyRerunOnFailure:
		requests := []v1.VirtualMachineStateChangeRequest{request}
		if vmi != nil && vmi.DeletionTimestamp == nil {
			// A finished VMI is stopped first, then a new one starts.
			requests = append([]v1.VirtualMachineStateChangeRequest{{Action: v1.StopRequest, UID: &vmi.UID}}, requests...)
		}
		err = a.addRequests(ctx, vm, isDryRun(opts.DryRun), requests...)
	case v1.RunStrategyAlways, v1.RunStrategyOnce:
		err = apierrors.NewConflict(vmResource, name.Name, fmt.Errorf("RunStrategy %s does not support manual start requests", strategy))
	default:
		err = apierrors.NewConflict(vmResource, name.Name, fmt.Errorf("RunStrategy %s is not supported", strategy))
	}
	if err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (a *API) stop(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	opts := &subresourcesv1.StopOptions{}
	if err := decodeBody(r, opts); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	if opts.GracePeriod != nil && *opts.GracePeriod < 0 {
		writeStatus(w, apierrors.NewBadRequest("gracePeriod: must be 0 or more seconds"))
		return
	}
	ctx := r.Context()
	vm := a.getVM(ctx, w, name)
	if vm == nil {
		return
	}
	vmi, err := a.getVMI(ctx, name)
	if err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	live := vmi != nil && !vmi.Status.Phase.IsFinal() && vmi.DeletionTimestamp == nil
	dryRun := isDryRun(opts.DryRun)
	strategy := vm.EffectiveRunStrategy()
	if !live && (strategy != v1.RunStrategyAlways || vmi == nil && vm.Status.StartFailure == nil) {
		writeStatus(w, apierrors.NewConflict(vmResource, name.Name, errors.New("VM is not running")))
		return
	}
	if live && opts.GracePeriod != nil {
		if err := a.setGracePeriod(ctx, vmi, *opts.GracePeriod, dryRun); err != nil {
			writeStatus(w, asStatus(err))
			return
		}
	}
	switch strategy {
	case v1.RunStrategyAlways, v1.RunStrategyHalted, v1.RunStrategyOnce:
		err = a.patchRunStrategy(ctx, vm, v1.RunStrategyHalted, dryRun)
	default:
		err = a.addRequests(ctx, vm, dryRun, v1.VirtualMachineStateChangeRequest{Action: v1.StopRequest, UID: &vmi.UID})
	}
	if err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (a *API) restart(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	opts := &subresourcesv1.RestartOptions{}
	if err := decodeBody(r, opts); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		writeStatus(w, apierrors.NewBadRequest("gracePeriodSeconds: must be 0 or more seconds"))
		return
	}
	ctx := r.Context()
	vm := a.getVM(ctx, w, name)
	if vm == nil {
		return
	}
	strategy := vm.EffectiveRunStrategy()
	if strategy == v1.RunStrategyHalted {
		writeStatus(w, apierrors.NewConflict(vmResource, name.Name, errors.New("RunStrategy Halted does not support manual restart requests")))
		return
	}
	vmi, err := a.getVMI(ctx, name)
	if err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	if vmi == nil || vmi.DeletionTimestamp != nil {
		writeStatus(w, apierrors.NewConflict(vmResource, name.Name, errors.New("VM is not running")))
		return
	}
	dryRun := isDryRun(opts.DryRun)
	if opts.GracePeriodSeconds != nil {
		if err := a.setGracePeriod(ctx, vmi, *opts.GracePeriodSeconds, dryRun); err != nil {
			writeStatus(w, asStatus(err))
			return
		}
	}
	err = a.addRequests(ctx, vm, dryRun,
		v1.VirtualMachineStateChangeRequest{Action: v1.StopRequest, UID: &vmi.UID},
		v1.VirtualMachineStateChangeRequest{Action: v1.StartRequest})
	if err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// patchRunStrategy sets the run strategy where the VM keeps it: spec.runStrategy, or
// the deprecated spec.running for a VM written with it (Always and Halted only).
func (a *API) patchRunStrategy(ctx context.Context, vm *v1.VirtualMachine, strategy v1.RunStrategy, dryRun bool) error {
	var spec map[string]any
	switch {
	case vm.Spec.Running != nil && (strategy == v1.RunStrategyAlways || strategy == v1.RunStrategyHalted):
		spec = map[string]any{"running": strategy == v1.RunStrategyAlways}
	case vm.Spec.Running != nil:
		spec = map[string]any{"running": nil, "runStrategy": strategy}
	default:
		spec = map[string]any{"runStrategy": strategy}
	}
	data, err := json.Marshal(map[string]any{"spec": spec})
	if err != nil {
		return err
	}
	return a.Client.Patch(ctx, vm, client.RawPatch(types.MergePatchType, data), dryRunOpts(dryRun)...)
}

// addRequests appends state change requests to the VM's status. The JSON patch tests the
// list it extends, so two callers never overwrite each other's requests.
func (a *API) addRequests(ctx context.Context, vm *v1.VirtualMachine, dryRun bool, requests ...v1.VirtualMachineStateChangeRequest) error {
	var ops []map[string]any
	if len(vm.Status.StateChangeRequests) == 0 {
		ops = append(ops, map[string]any{"op": "add", "path": "/status/stateChangeRequests", "value": requests})
	} else {
		ops = append(ops,
			map[string]any{"op": "test", "path": "/status/stateChangeRequests", "value": vm.Status.StateChangeRequests},
			map[string]any{"op": "replace", "path": "/status/stateChangeRequests", "value": append(append([]v1.VirtualMachineStateChangeRequest{}, vm.Status.StateChangeRequests...), requests...)})
	}
	data, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	opts := []client.SubResourcePatchOption{}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	err = a.Client.Status().Patch(ctx, vm, client.RawPatch(types.JSONPatchType, data), opts...)
	if apierrors.IsInvalid(err) {
		return apierrors.NewConflict(vmResource, vm.Name, errors.New("the VM's state change requests changed meanwhile; retry"))
	}
	return err
}

// setGracePeriod shortens (or lengthens) the grace period the VMI's guest gets when it
// is stopped next.
func (a *API) setGracePeriod(ctx context.Context, vmi *v1.VirtualMachineInstance, seconds int64, dryRun bool) error {
	data, err := json.Marshal(map[string]any{"spec": map[string]any{"terminationGracePeriodSeconds": seconds}})
	if err != nil {
		return err
	}
	return a.Client.Patch(ctx, vmi, client.RawPatch(types.MergePatchType, data), dryRunOpts(dryRun)...)
}

func dryRunOpts(dryRun bool) []client.PatchOption {
	if dryRun {
		return []client.PatchOption{client.DryRunAll}
	}
	return nil
}
