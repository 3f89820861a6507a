// Package vm is virt-controller's VirtualMachine controller: it keeps each VM's
// VirtualMachineInstance in line with the VM's run strategy and the start/stop requests
// virt-api queues in its status, and sums the VMI up in the VM's status.
package vm

import (
	"context"
	"errors"
	"fmt"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	"github.com/hypernest/hypernest/components/virt-controller/expectations"
	vmicontroller "github.com/hypernest/hypernest/components/virt-controller/vmi"
	"github.com/hypernest/hypernest/pkg/instancetype"
	"github.com/hypernest/hypernest/pkg/metrics"
)

// Start-failure backoff: after the n-th consecutive failed start the VM waits
// min(backoffBase * 2^(n-1), backoffMax) before the next, shown as CrashLoopBackOff.
// The 10 s start and the 5 min ceiling are the kubelet's own container restart backoff,
// which users of CrashLoopBackOff already know.
const (
	backoffBase = 10 * time.Second
	backoffMax  = 5 * time.Minute
)

// Event and condition reasons.
const (
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonFailedCreate     = v1.FailedCreateReason
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonFailedDelete     = "FailedDelete"
	reasonCrashLoop        = "CrashLoopBackOff"
)

// Reconciler keeps VMs' VMIs.
type Reconciler struct {
	client.Client
	Recorder     record.EventRecorder
	Expectations *expectations.Store
	// Now is the clock; tests move it.
	Now func() time.Time
}

// SetupWithManager registers the controller: VMs, and the VMIs they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	if r.Expectations == nil {
		r.Expectations = expectations.New()
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("vm").
		For(&v1.VirtualMachine{}).
		Owns(&v1.VirtualMachineInstance{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, NewQueue: metrics.Queue[reconcile.Request]("virt-controller-vm")}).
		Complete(r)
}

// Reconcile brings one VM's VMI in line and writes the VM's status once, at the end.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	vm := &v1.VirtualMachine{}
	if err := r.Get(ctx, req.NamespacedName, vm); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	vmi, err := r.ownedVMI(ctx, vm)
	if err != nil {
		return ctrl.Result{}, err
	}
	// A created VMI is observed once the cache shows it; a deleted one once the cache
	// shows it terminating (its finalizer holds it until the guest is gone).
	if !r.Expectations.Satisfied(vm.UID, func(string) bool { return vmi != nil && vmi.DeletionTimestamp == nil }) {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	}

	original := vm.DeepCopy()
	var result ctrl.Result
	defer func() {
		r.updateStatus(vm, vmi)
		if err := r.patchStatus(ctx, original, vm); err != nil && retErr == nil {
			retErr = err
		}
	}()

	if vm.DeletionTimestamp != nil {
		return r.reconcileDelete(ctx, vm, vmi)
	}
	if !controllerutil.ContainsFinalizer(vm, v1.VirtualMachineControllerFinalizer) {
		patch := client.MergeFrom(vm.DeepCopy())
		controllerutil.AddFinalizer(vm, v1.VirtualMachineControllerFinalizer)
		if err := r.Patch(ctx, vm, patch); err != nil {
			return ctrl.Result{}, err
		}
		original.ObjectMeta = vm.ObjectMeta
	}

	if retry, err := r.storeInstancetypes(ctx, vm); err != nil {
		return ctrl.Result{}, err
	} else if retry > 0 {
		result.RequeueAfter = retry
	}
	r.recordFailure(vm, vmi)
	requeue, err := r.reconcileRequests(ctx, vm, &vmi)
	if err != nil || requeue {
		return ctrl.Result{}, err
	}
	strategyResult, err := r.reconcileRunStrategy(ctx, vm, &vmi)
	vm.Status.RunStrategy = vm.EffectiveRunStrategy()
	if strategyResult.RequeueAfter > 0 && (result.RequeueAfter == 0 || strategyResult.RequeueAfter < result.RequeueAfter) {
		result.RequeueAfter = strategyResult.RequeueAfter
	}
	return result, err
}

// instancetypeLookupRetry is how often a VM whose instance type or preference is missing
// looks again (it is not watched: a VM names it by name, possibly before it exists).
const instancetypeLookupRetry = 15 * time.Second

// storeInstancetypes pins the VM's instance type and preference in ControllerRevisions
// (status.instancetypeRef/preferenceRef), as KubeVirt does on every VM sync, so the VM
// keeps what they said when it was created. One that is missing or conflicts with the
// VM sets the Failure condition (KubeVirt's reasons) and the VM does not start; the
// lookup is retried.
func (r *Reconciler) storeInstancetypes(ctx context.Context, vm *v1.VirtualMachine) (time.Duration, error) {
	if vm.Spec.Instancetype == nil && vm.Spec.Preference == nil {
		return 0, nil
	}
	err := instancetype.Store(ctx, r.Client, vm)
	var storeErr *instancetype.StoreError
	if err != nil && !errors.As(err, &storeErr) {
		return 0, err
	}
	if storeErr != nil {
		if c := v1.VMCondition(&vm.Status, v1.VirtualMachineFailure); c == nil || c.Message != storeErr.Error() {
			r.Recorder.Eventf(vm, k8sv1.EventTypeWarning, storeErr.Reason, "%v", storeErr)
		}
		v1.SetVMCondition(&vm.Status, v1.VirtualMachineFailure, k8sv1.ConditionTrue, storeErr.Reason, storeErr.Error())
		return instancetypeLookupRetry, nil
	}
	if c := v1.VMCondition(&vm.Status, v1.VirtualMachineFailure); c != nil &&
		(c.Reason == instancetype.ReasonFailedFindInstancetype || c.Reason == instancetype.ReasonFailedFindPreference) {
		v1.RemoveVMCondition(&vm.Status, v1.VirtualMachineFailure)
	}
	return 0, nil
}

// reconcileRequests works off the state change requests virt-api queued (virtctl start,
// stop, restart), oldest first. It reports whether the VM must wait for a step in flight.
func (r *Reconciler) reconcileRequests(ctx context.Context, vm *v1.VirtualMachine, vmi **v1.VirtualMachineInstance) (bool, error) {
	for len(vm.Status.StateChangeRequests) > 0 {
		req := vm.Status.StateChangeRequests[0]
		switch req.Action {
		case v1.StopRequest:
			// A stop names the VMI it was asked for: a newer VMI is not stopped by it.
			if *vmi != nil && (req.UID == nil || *req.UID == (*vmi).UID) {
				return true, r.stopVMI(ctx, vm, *vmi)
			}
		case v1.StartRequest:
			if *vmi != nil && !(*vmi).Status.Phase.IsFinal() {
				break // already running: the request is met
			}
			if *vmi != nil {
				// A finished VMI makes way for the new one first.
				return true, r.stopVMI(ctx, vm, *vmi)
			}
			if vm.EffectiveRunStrategy() == v1.RunStrategyHalted {
				// virtctl start --paused of a Halted VM: it runs from now on (KubeVirt's way;
				// only a request can carry "paused").
				if err := r.setRunStrategy(ctx, vm, v1.RunStrategyAlways); err != nil {
					return true, err
				}
			}
			paused := req.Data[v1.StartRequestDataPausedKey] == v1.StartRequestDataPausedTrue
			created, err := r.startVMI(ctx, vm, paused)
			if err != nil {
				return true, err
			}
			*vmi = created
		}
		vm.Status.StateChangeRequests = vm.Status.StateChangeRequests[1:]
	}
	vm.Status.StateChangeRequests = nil
	return false, nil
}

// setRunStrategy changes the VM's spec where it keeps its run strategy.
func (r *Reconciler) setRunStrategy(ctx context.Context, vm *v1.VirtualMachine, strategy v1.RunStrategy) error {
	// Guarded by the resourceVersion: the decision was made on the cached VM, and a stop
	// virt-api took meanwhile must win, not be overwritten (the reconcile retries on 409).
	patch := client.MergeFromWithOptions(vm.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if vm.Spec.Running != nil && (strategy == v1.RunStrategyAlways || strategy == v1.RunStrategyHalted) {
		vm.Spec.Running = ptr.To(strategy == v1.RunStrategyAlways)
	} else {
		vm.Spec.Running = nil
		vm.Spec.RunStrategy = ptr.To(strategy)
	}
	status := vm.Status
	if err := r.Patch(ctx, vm, patch); err != nil {
		return err
	}
	vm.Status = status // the patch answered with the stored status; keep this round's
	return nil
}

// reconcileRunStrategy starts or stops the VMI as the run strategy says.
func (r *Reconciler) reconcileRunStrategy(ctx context.Context, vm *v1.VirtualMachine, vmi **v1.VirtualMachineInstance) (ctrl.Result, error) {
	strategy := vm.EffectiveRunStrategy()
	// A strategy the VM just switched to applies once as if from scratch (Once and
	// RerunOnFailure start the VM then, but not after it stopped under them).
	switched := vm.Status.RunStrategy != strategy
	cur := *vmi
	switch strategy {
	case v1.RunStrategyHalted:
		if cur != nil {
			return ctrl.Result{}, r.stopVMI(ctx, vm, cur)
		}
	case v1.RunStrategyAlways:
		if cur != nil && cur.Status.Phase.IsFinal() {
			return ctrl.Result{}, r.stopVMI(ctx, vm, cur)
		}
		if cur == nil {
			return r.startUnlessBackingOff(ctx, vm, vmi)
		}
	case v1.RunStrategyRerunOnFailure:
		if cur != nil && cur.Status.Phase == v1.Failed {
			return ctrl.Result{}, r.stopVMI(ctx, vm, cur)
		}
		if cur == nil && (switched || vm.Status.StartFailure != nil) {
			return r.startUnlessBackingOff(ctx, vm, vmi)
		}
	case v1.RunStrategyOnce:
		if cur == nil && switched {
			created, err := r.startVMI(ctx, vm, false)
			*vmi = created
			return ctrl.Result{}, err
		}
	case v1.RunStrategyManual:
		// Only requests start or stop it.
	default:
		v1.SetVMCondition(&vm.Status, v1.VirtualMachineFailure, k8sv1.ConditionTrue, "UnsupportedRunStrategy",
			fmt.Sprintf("spec.runStrategy: %q is not supported by Hypernest", strategy))
	}
	return ctrl.Result{}, nil
}

// startUnlessBackingOff starts the VMI, unless recent failures ask to wait.
func (r *Reconciler) startUnlessBackingOff(ctx context.Context, vm *v1.VirtualMachine, vmi **v1.VirtualMachineInstance) (ctrl.Result, error) {
	if f := vm.Status.StartFailure; f != nil && f.RetryAfterTimestamp != nil {
		if wait := f.RetryAfterTimestamp.Sub(r.Now()); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	created, err := r.startVMI(ctx, vm, false)
	*vmi = created
	return ctrl.Result{}, err
}

// recordFailure counts a failed VMI once (by UID) towards the start backoff, and
// forgets past failures once a VMI runs.
func (r *Reconciler) recordFailure(vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) {
	if vmi == nil {
		return
	}
	switch vmi.Status.Phase {
	case v1.Running:
		vm.Status.StartFailure = nil
	case v1.Failed:
		f := vm.Status.StartFailure
		if f != nil && f.LastFailedVMIUID == vmi.UID {
			return
		}
		if f == nil {
			f = &v1.VirtualMachineStartFailure{}
		}
		f.ConsecutiveFailCount++
		f.LastFailedVMIUID = vmi.UID
		delay := backoffBase << (f.ConsecutiveFailCount - 1)
		if delay > backoffMax || delay <= 0 {
			delay = backoffMax
		}
		f.RetryAfterTimestamp = ptr.To(metav1.NewTime(r.Now().Add(delay)))
		vm.Status.StartFailure = f
		if vm.EffectiveRunStrategy() == v1.RunStrategyAlways || vm.EffectiveRunStrategy() == v1.RunStrategyRerunOnFailure {
			r.Recorder.Eventf(vm, k8sv1.EventTypeWarning, reasonCrashLoop, "VMI %s failed (%s); restarting in %s", vmi.Name, vmi.Status.Reason, delay)
		}
	}
}

func (r *Reconciler) startVMI(ctx context.Context, vm *v1.VirtualMachine, paused bool) (*v1.VirtualMachineInstance, error) {
	if vm.Spec.Template == nil {
		v1.SetVMCondition(&vm.Status, v1.VirtualMachineFailure, k8sv1.ConditionTrue, reasonFailedCreate, "spec.template: Required value")
		return nil, nil
	}
	vmi := NewVMIFromTemplate(vm)
	if err := r.applyInstancetypes(ctx, vm, vmi); err != nil {
		reason := reasonFailedCreate
		var storeErr *instancetype.StoreError
		if errors.As(err, &storeErr) {
			reason = storeErr.Reason
		}
		v1.SetVMCondition(&vm.Status, v1.VirtualMachineFailure, k8sv1.ConditionTrue, reason, err.Error())
		r.Recorder.Eventf(vm, k8sv1.EventTypeWarning, reasonFailedCreate, "Error creating virtual machine instance: Failed to apply instancetype: %v", err)
		if apierrors.IsNotFound(err) || errors.As(err, new(instancetype.Conflicts)) {
			return nil, nil // the Failure condition says why; the VM looks again on its next sync
		}
		return nil, err
	}
	if paused {
		vmi.Spec.StartStrategy = ptr.To(v1.StartStrategyPaused)
	}
	if err := r.Create(ctx, vmi); err != nil {
		v1.SetVMCondition(&vm.Status, v1.VirtualMachineFailure, k8sv1.ConditionTrue, reasonFailedCreate, err.Error())
		r.Recorder.Eventf(vm, k8sv1.EventTypeWarning, reasonFailedCreate, "Error creating VMI %s: %v", vm.Name, err)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err) {
			return nil, nil // an error in the VM's template: retrying will not help
		}
		return nil, err
	}
	r.Expectations.ExpectCreation(vm.UID, vmi.Name)
	v1.RemoveVMCondition(&vm.Status, v1.VirtualMachineFailure)
	r.Recorder.Eventf(vm, k8sv1.EventTypeNormal, reasonSuccessfulCreate, "Started the virtual machine by creating the new virtual machine instance %s", vmi.Name)
	return vmi, nil
}

// stopVMI deletes the VMI; virt-handler shuts its guest down within its grace period.
func (r *Reconciler) stopVMI(ctx context.Context, vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) error {
	if vmi.DeletionTimestamp != nil {
		return nil
	}
	// Background propagation: the launcher pod must outlive the VMI's deletion until the
	// guest is shut down (the VMI's finalizer sees to it), not be killed first.
	err := r.Delete(ctx, vmi, client.Preconditions{UID: &vmi.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		r.Recorder.Eventf(vm, k8sv1.EventTypeWarning, reasonFailedDelete, "Error deleting VMI %s: %v", vmi.Name, err)
		return err
	}
	r.Expectations.ExpectDeletion(vm.UID, vmi.Name)
	r.Recorder.Eventf(vm, k8sv1.EventTypeNormal, reasonSuccessfulDelete, "Stopped the virtual machine by deleting the virtual machine instance %s", vmi.UID)
	return nil
}

func (r *Reconciler) reconcileDelete(ctx context.Context, vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) (ctrl.Result, error) {
	if vmi != nil {
		return ctrl.Result{}, r.stopVMI(ctx, vm, vmi)
	}
	if !controllerutil.ContainsFinalizer(vm, v1.VirtualMachineControllerFinalizer) {
		return ctrl.Result{}, nil
	}
	patch := client.MergeFrom(vm.DeepCopy())
	controllerutil.RemoveFinalizer(vm, v1.VirtualMachineControllerFinalizer)
	r.Expectations.Forget(vm.UID)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, vm, patch))
}

// applyInstancetypes builds the VMI from what the VM's instance type and preference
// said when the VM captured them (its ControllerRevisions), and names them in the
// VMI's annotations, as KubeVirt does.
func (r *Reconciler) applyInstancetypes(ctx context.Context, vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) error {
	if vm.Spec.Instancetype == nil && vm.Spec.Preference == nil {
		return nil
	}
	finder := instancetype.Finder{Reader: r.Client}
	it, err := finder.Instancetype(ctx, vm)
	if err != nil {
		return &instancetype.StoreError{Reason: instancetype.ReasonFailedFindInstancetype, Err: err}
	}
	pref, err := finder.Preference(ctx, vm)
	if err != nil {
		return &instancetype.StoreError{Reason: instancetype.ReasonFailedFindPreference, Err: err}
	}
	if vmi.Annotations == nil {
		vmi.Annotations = map[string]string{}
	}
	if m := vm.Spec.Instancetype; m != nil {
		if kind, _ := instancetype.InstancetypeKind(m.Kind); kind == itv1.VirtualMachineInstancetypeKind {
			vmi.Annotations[v1.InstancetypeAnnotation] = m.Name
		} else {
			vmi.Annotations[v1.ClusterInstancetypeAnnotation] = m.Name
		}
	}
	if m := vm.Spec.Preference; m != nil {
		if kind, _ := instancetype.PreferenceKind(m.Kind); kind == itv1.VirtualMachinePreferenceKind {
			vmi.Annotations[v1.PreferenceAnnotation] = m.Name
		} else {
			vmi.Annotations[v1.ClusterPreferenceAnnotation] = m.Name
		}
	}
	if conflicts := instancetype.Apply(field.NewPath("spec"), it, pref, &vmi.Spec, &vmi.ObjectMeta); len(conflicts) > 0 {
		return conflicts
	}
	return nil
}

// NewVMIFromTemplate is the VMI a VM runs: its template, named after the VM and owned by it.
func NewVMIFromTemplate(vm *v1.VirtualMachine) *v1.VirtualMachineInstance {
	t := vm.Spec.Template.DeepCopy()
	vmi := &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{
			Name:            vm.Name,
			Namespace:       vm.Namespace,
			Labels:          t.ObjectMeta.Labels,
			Annotations:     t.ObjectMeta.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(vm, v1.VirtualMachineGroupVersionKind)},
		},
		Spec: t.Spec,
	}
	if vmi.Labels == nil {
		vmi.Labels = map[string]string{}
	}
	vmi.Labels[v1.VirtualMachineNameLabel] = vm.Name
	return vmi
}

// ownedVMI is the VM's VMI: the one named after it. One that another owner controls is
// not the VM's; it is reported and left alone.
func (r *Reconciler) ownedVMI(ctx context.Context, vm *v1.VirtualMachine) (*v1.VirtualMachineInstance, error) {
	vmi := &v1.VirtualMachineInstance{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: vm.Namespace, Name: vm.Name}, vmi); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	if ref := metav1.GetControllerOf(vmi); ref == nil || ref.UID != vm.UID {
		return nil, fmt.Errorf("VMI %s/%s exists and is not controlled by this VM: delete it or rename the VM", vmi.Namespace, vmi.Name)
	}
	return vmi, nil
}

// updateStatus sums the VMI up in the VM's status.
func (r *Reconciler) updateStatus(vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) {
	vm.Status.ObservedGeneration = vm.Generation
	vm.Status.DesiredGeneration = vm.Generation
	vm.Status.Created = vmi != nil
	vm.Status.Ready = vmi != nil && vmi.DeletionTimestamp == nil && vmiConditionTrue(vmi, v1.VirtualMachineInstanceReady)
	vm.Status.PrintableStatus = r.printableStatus(vm, vmi)

	if vm.Status.Ready {
		v1.SetVMCondition(&vm.Status, v1.VirtualMachineReady, k8sv1.ConditionTrue, "", "")
	} else {
		reason, msg := "VMINotExists", "VMI does not exist"
		if vmi != nil {
			reason, msg = "GuestNotRunning", "VMI is not ready"
			if c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceReady); c != nil && c.Reason != "" {
				reason, msg = c.Reason, c.Message
			}
		}
		v1.SetVMCondition(&vm.Status, v1.VirtualMachineReady, k8sv1.ConditionFalse, reason, msg)
	}
	if vmi != nil && vmiConditionTrue(vmi, v1.VirtualMachineInstancePaused) {
		c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstancePaused)
		v1.SetVMCondition(&vm.Status, v1.VirtualMachinePaused, k8sv1.ConditionTrue, c.Reason, c.Message)
	} else {
		v1.RemoveVMCondition(&vm.Status, v1.VirtualMachinePaused)
	}
}

func (r *Reconciler) printableStatus(vm *v1.VirtualMachine, vmi *v1.VirtualMachineInstance) v1.VirtualMachinePrintableStatus {
	switch {
	case vm.DeletionTimestamp != nil:
		return v1.VirtualMachineStatusTerminating
	case vmi == nil:
		if f := vm.Status.StartFailure; f != nil && f.RetryAfterTimestamp != nil && f.RetryAfterTimestamp.After(r.Now()) && vm.EffectiveRunStrategy() != v1.RunStrategyHalted {
			return v1.VirtualMachineStatusCrashLoopBackOff
		}
		return v1.VirtualMachineStatusStopped
	case vmi.DeletionTimestamp != nil:
		return v1.VirtualMachineStatusStopping
	}
	switch vmi.Status.Phase {
	case v1.Running:
		if vmiConditionTrue(vmi, v1.VirtualMachineInstancePaused) {
			return v1.VirtualMachineStatusPaused
		}
		return v1.VirtualMachineStatusRunning
	case v1.Succeeded, v1.Failed:
		if vmi.Status.Phase == v1.Failed && vm.Status.StartFailure != nil && vm.EffectiveRunStrategy() != v1.RunStrategyHalted && vm.EffectiveRunStrategy() != v1.RunStrategyManual && vm.EffectiveRunStrategy() != v1.RunStrategyOnce {
			return v1.VirtualMachineStatusCrashLoopBackOff
		}
		return v1.VirtualMachineStatusStopped
	}
	if c := v1.VMICondition(&vmi.Status, vmicontroller.PodScheduledCondition); c != nil && c.Status == k8sv1.ConditionFalse && c.Reason == k8sv1.PodReasonUnschedulable {
		return v1.VirtualMachineStatusUnschedulable
	}
	if c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized); c != nil && c.Status == k8sv1.ConditionFalse {
		switch c.Reason {
		case "ErrImagePull":
			return v1.VirtualMachineStatusErrImagePull
		case "ImagePullBackOff":
			return v1.VirtualMachineStatusImagePullBackOff
		case vmicontroller.ReasonPVCNotFound:
			return v1.VirtualMachineStatusPvcNotFound
		}
	}
	return v1.VirtualMachineStatusStarting
}

func vmiConditionTrue(vmi *v1.VirtualMachineInstance, t v1.VirtualMachineInstanceConditionType) bool {
	c := v1.VMICondition(&vmi.Status, t)
	return c != nil && c.Status == k8sv1.ConditionTrue
}

// patchStatus writes the VM's status when it changed, guarded by the resourceVersion:
// virt-api appends state change requests to the same status, and none may be lost.
func (r *Reconciler) patchStatus(ctx context.Context, original, vm *v1.VirtualMachine) error {
	if equality.Semantic.DeepEqual(original.Status, vm.Status) {
		return nil
	}
	base := vm.DeepCopy()
	base.Status = original.Status
	err := r.Status().Patch(ctx, vm, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	return client.IgnoreNotFound(err)
}
