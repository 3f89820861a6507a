package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// Start, stop and restart never touch a VMI or pod themselves: they change the VM (its
// run strategy, or a state change request in its status) and virt-controller acts on it.

// vmCall is the frame of start, stop and restart: it decodes the options body into opts,
// reads the VM and its VMI (nil when there is none), and runs act; an error becomes the
// answer's Status, success a 202. A write act makes on a VM that changed after it was
// read is refused (staleVMError), and the call is decided again on a fresh read, a few
// times, before it answers 409 Conflict.
func (a *API) vmCall(w http.ResponseWriter, r *http.Request, name types.NamespacedName, opts any,
	act func(ctx context.Context, vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) error) {
	if err := decodeBody(r, opts); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	ctx := r.Context()
	err := retry.OnError(retry.DefaultRetry, func(err error) bool { return errors.As(err, &staleVMError{}) }, func() error {
		vm := &v1.VirtualMachine{}
		if err := a.Reader.Get(ctx, name, vm); err != nil {
			return err
		}
		vmi, err := a.getVMI(ctx, name)
		if err != nil {
			return err
		}
		return act(ctx, vm, vmi)
	})
	if stale := (staleVMError{}); errors.As(err, &stale) {
		err = stale.conflict
	}
	if err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// staleVMError is a write refused because the VM changed after the call read it.
type staleVMError struct{ conflict error }

func (e staleVMError) Error() string { return e.conflict.Error() }

func (a *API) start(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	opts := &subresourcesv1.StartOptions{}
	a.vmCall(w, r, name, opts, func(ctx context.Context, vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) error {
		if vmi != nil && !vmi.Status.Phase.IsFinal() && vmi.DeletionTimestamp == nil {
			return apierrors.NewConflict(vmResource, name.Name, errors.New("VM is already running"))
		}
		dryRun := isDryRun(opts.DryRun)
		request := v1.VirtualMachineStateChangeRequest{Action: v1.StartRequest}
		if opts.Paused {
			request.Data = map[string]string{v1.StartRequestDataPausedKey: v1.StartRequestDataPausedTrue}
		}
		switch strategy := vm.EffectiveRunStrategy(); strategy {
		case v1.RunStrategyHalted:
			if opts.Paused {
				// Only a request can say "paused": virt-controller switches the VM to Always
				// when it takes a start request of a Halted VM.
				return a.addRequests(ctx, vm, dryRun, request)
			}
			return a.patchRunStrategy(ctx, vm, v1.RunStrategyAlways, dryRun)
		case v1.RunStrategyManual, v1.RunStrategyRerunOnFailure:
			requests := []v1.VirtualMachineStateChangeRequest{request}
			if vmi != nil && vmi.DeletionTimestamp == nil {
				// A finished VMI is stopped first, then a new one starts.
				requests = append([]v1.VirtualMachineStateChangeRequest{{Action: v1.StopRequest, UID: &vmi.UID}}, requests...)
			}
			return a.addRequests(ctx, vm, dryRun, requests...)
		case v1.RunStrategyAlways, v1.RunStrategyOnce:
			return apierrors.NewConflict(vmResource, name.Name, fmt.Errorf("RunStrategy %s does not support manual start requests", strategy))
		default:
			return apierrors.NewConflict(vmResource, name.Name, fmt.Errorf("RunStrategy %s is not supported", strategy))
		}
	})
}

func (a *API) stop(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	opts := &subresourcesv1.StopOptions{}
	a.vmCall(w, r, name, opts, func(ctx context.Context, vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) error {
		if opts.GracePeriod != nil && *opts.GracePeriod < 0 {
			return apierrors.NewBadRequest("gracePeriod: must be 0 or more seconds")
		}
		live := vmi != nil && !vmi.Status.Phase.IsFinal() && vmi.DeletionTimestamp == nil
		dryRun := isDryRun(opts.DryRun)
		strategy := vm.EffectiveRunStrategy()
		// An Always or Once VM is stopped whatever its instance is doing, as in KubeVirt:
		// it may be starting (its VMI not made yet, say while virt-controller restarts)
		// or backing off between restarts; only a VM nothing runs for is "not running".
		if !live && strategy != v1.RunStrategyAlways && strategy != v1.RunStrategyOnce {
			return apierrors.NewConflict(vmResource, name.Name, errors.New("VM is not running"))
		}
		if live && opts.GracePeriod != nil {
			if err := a.setGracePeriod(ctx, vmi, *opts.GracePeriod, dryRun); err != nil {
				return err
			}
		}
		switch strategy {
		case v1.RunStrategyAlways, v1.RunStrategyHalted, v1.RunStrategyOnce:
			// A start still pending (from a restart just before) would bring the VM back:
			// virt-controller starts a Halted VM that has a start request. The stop is the
			// later request, so it wins; the start goes first, so the controller never sees
			// Halted beside it.
			if err := a.dropStartRequests(ctx, vm, dryRun); err != nil {
				return err
			}
			return a.patchRunStrategy(ctx, vm, v1.RunStrategyHalted, dryRun)
		default:
			return a.addRequests(ctx, vm, dryRun, v1.VirtualMachineStateChangeRequest{Action: v1.StopRequest, UID: &vmi.UID})
		}
	})
}

func (a *API) restart(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	opts := &subresourcesv1.RestartOptions{}
	a.vmCall(w, r, name, opts, func(ctx context.Context, vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) error {
		if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
			return apierrors.NewBadRequest("gracePeriodSeconds: must be 0 or more seconds")
		}
		if vm.EffectiveRunStrategy() == v1.RunStrategyHalted {
			return apierrors.NewConflict(vmResource, name.Name, errors.New("RunStrategy Halted does not support manual restart requests"))
		}
		if vmi == nil || vmi.DeletionTimestamp != nil {
			return apierrors.NewConflict(vmResource, name.Name, errors.New("VM is not running"))
		}
		dryRun := isDryRun(opts.DryRun)
		if opts.GracePeriodSeconds != nil {
			if err := a.setGracePeriod(ctx, vmi, *opts.GracePeriodSeconds, dryRun); err != nil {
				return err
			}
		}
		return a.addRequests(ctx, vm, dryRun,
			v1.VirtualMachineStateChangeRequest{Action: v1.StopRequest, UID: &vmi.UID},
			v1.VirtualMachineStateChangeRequest{Action: v1.StartRequest})
	})
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
	// The resourceVersion makes the API server refuse the patch (409) if the VM changed
	// since it was read.
	data, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": vm.ResourceVersion}, "spec": spec})
	if err != nil {
		return err
	}
	err = a.Client.Patch(ctx, vm, client.RawPatch(types.MergePatchType, data), dryRunOpts(dryRun)...)
	if apierrors.IsConflict(err) {
		return staleVMError{err}
	}
	return err
}

// addRequests appends state change requests to the VM's status.
func (a *API) addRequests(ctx context.Context, vm *v1.VirtualMachine, dryRun bool, requests ...v1.VirtualMachineStateChangeRequest) error {
	return a.setRequests(ctx, vm, dryRun, append(append([]v1.VirtualMachineStateChangeRequest{}, vm.Status.StateChangeRequests...), requests...))
}

// dropStartRequests removes the start requests from the VM's state change requests.
func (a *API) dropStartRequests(ctx context.Context, vm *v1.VirtualMachine, dryRun bool) error {
	kept := []v1.VirtualMachineStateChangeRequest{}
	for _, r := range vm.Status.StateChangeRequests {
		if r.Action != v1.StartRequest {
			kept = append(kept, r)
		}
	}
	if len(kept) == len(vm.Status.StateChangeRequests) {
		return nil
	}
	return a.setRequests(ctx, vm, dryRun, kept)
}

// setRequests writes the VM's state change requests. The JSON patch tests the list it
// replaces, so two callers never overwrite each other's requests.
func (a *API) setRequests(ctx context.Context, vm *v1.VirtualMachine, dryRun bool, requests []v1.VirtualMachineStateChangeRequest) error {
	// Applied only to the VM as it was read: the requests are computed from its list.
	ops := []map[string]any{{"op": "test", "path": "/metadata/resourceVersion", "value": vm.ResourceVersion}}
	if len(vm.Status.StateChangeRequests) == 0 {
		ops = append(ops, map[string]any{"op": "add", "path": "/status/stateChangeRequests", "value": requests})
	} else {
		ops = append(ops, map[string]any{"op": "replace", "path": "/status/stateChangeRequests", "value": requests})
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
		// The test of the resourceVersion failed.
		return staleVMError{apierrors.NewConflict(vmResource, vm.Name, errors.New("the VM kept changing while the call was made; retry"))}
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
