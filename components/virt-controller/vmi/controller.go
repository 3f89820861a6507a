// Package vmi is virt-controller's VirtualMachineInstance controller: it runs each VMI in
// a virt-launcher pod and moves the VMI through Pending, Scheduling and Scheduled, where
// virt-handler on the pod's node takes over. It also ends VMIs whose pod failed or
// vanished before then, and holds a deleted VMI until its pod, and so its guest, is gone.
package vmi

import (
	"context"
	"errors"
	"fmt"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-controller/expectations"
	"github.com/hypernest/hypernest/components/virt-controller/services"
	"github.com/hypernest/hypernest/pkg/metrics"
)

// PodScheduledCondition mirrors the launcher pod's PodScheduled condition on the VMI, as
// KubeVirt does, so "why is my VM not starting" is answered on the VMI (and the VM's
// ErrorUnschedulable status is derived from it).
const PodScheduledCondition v1.VirtualMachineInstanceConditionType = "PodScheduled"

// Reasons set on the VMI and its events.
const (
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonFailedCreate     = v1.FailedCreateReason
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonInvalidSpec      = "InvalidSpec"
	reasonLauncherFailed   = "LauncherFailed"
)

// expectationRetry is how soon a VMI waiting for the cache to show its new pod is looked
// at again; the pod's own event normally wakes it first.
const expectationRetry = 2 * time.Second

// shutdownSafetyMargin is how long past the VMI's grace period virt-controller waits for
// virt-handler to shut the guest down before it deletes the pod itself (the pod's own
// grace period then lets the launcher stop the guest). It covers a slow or absent
// handler; the 15 s are the launcher pod's extra grace (services.podGraceExtra).
const shutdownSafetyMargin = 15 * time.Second

// Reconciler runs VMIs in launcher pods.
type Reconciler struct {
	client.Client
	// APIReader reads around the cache: the last check before a pod is created.
	APIReader    client.Reader
	Recorder     record.EventRecorder
	Config       func(context.Context) services.LauncherPodConfig
	Expectations *expectations.Store
}

// SetupWithManager registers the controller: VMIs, and the pods they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	if r.Expectations == nil {
		r.Expectations = expectations.New()
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("vmi").
		For(&v1.VirtualMachineInstance{}).
		Owns(&k8sv1.Pod{}).
		// A VMI waits for the claims it names; their arrival wakes it.
		Watches(&k8sv1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.vmisForClaim)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, NewQueue: metrics.Queue[reconcile.Request]("virt-controller-vmi")}).
		Complete(r)
}

// Reconcile moves one VMI one step along its life.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	vmi := &v1.VirtualMachineInstance{}
	if err := r.Get(ctx, req.NamespacedName, vmi); err != nil {
		// A VMI that is gone takes its pods with it (owner references).
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	logger := log.FromContext(ctx).WithValues("uid", vmi.UID)
	ctx = log.IntoContext(ctx, logger)

	pods, err := r.launcherPods(ctx, vmi)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !r.Expectations.Satisfied(vmi.UID, func(name string) bool { return hasPod(pods, name) }) {
		return ctrl.Result{RequeueAfter: expectationRetry}, nil
	}

	// One status patch at the end, whatever the phase functions did.
	original := vmi.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, original, vmi); err != nil && retErr == nil {
			retErr = err
		}
	}()

	if vmi.DeletionTimestamp != nil {
		return r.reconcileDelete(ctx, vmi, pods)
	}
	if vmi.Status.Phase.IsFinal() {
		return r.reconcileFinal(ctx, vmi, pods)
	}
	if !controllerutil.ContainsFinalizer(vmi, v1.VirtualMachineInstanceFinalizer) {
		// Added before any pod exists, so no guest can outlive its VMI object.
		patch := client.MergeFrom(vmi.DeepCopy())
		controllerutil.AddFinalizer(vmi, v1.VirtualMachineInstanceFinalizer)
		if err := r.Patch(ctx, vmi, patch); err != nil {
			return ctrl.Result{}, err
		}
		original.ObjectMeta = vmi.ObjectMeta
	}

	switch vmi.Status.Phase {
	case v1.VmPhaseUnset, v1.Pending, v1.Scheduling:
		return r.reconcileStarting(ctx, vmi, pods)
	default: // Scheduled, Running: virt-handler's; only a vanished pod is ours to report.
		return r.reconcileHandedOff(ctx, vmi, pods)
	}
}

// reconcileStarting creates the launcher pod and follows it until it runs on a node.
func (r *Reconciler) reconcileStarting(ctx context.Context, vmi *v1.VirtualMachineInstance, pods []k8sv1.Pod) (ctrl.Result, error) {
	if vmi.Status.Phase == v1.VmPhaseUnset {
		v1.SetVMIPhase(&vmi.Status, v1.Pending)
	}
	if errs := validation.ValidateVirtualMachineInstanceSpec(field.NewPath("spec"), &vmi.Spec); len(errs) > 0 {
		// virt-api refuses such a VMI; this catches one created while it was not running.
		msg := errs.ToAggregate().Error()
		v1.SetVMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized, k8sv1.ConditionFalse, reasonInvalidSpec, msg)
		r.Recorder.Event(vmi, k8sv1.EventTypeWarning, reasonInvalidSpec, msg)
		v1.FinishVMI(&vmi.Status, v1.Failed, reasonInvalidSpec)
		return ctrl.Result{}, nil
	}

	pod := newestPod(pods)
	if pod == nil {
		if vmi.Status.Phase == v1.Scheduling {
			// The pod existed and is gone before it ever ran the guest.
			r.Recorder.Event(vmi, k8sv1.EventTypeWarning, v1.PodNotExistsReason, "The virt-launcher pod was deleted before the VMI started")
			v1.FinishVMI(&vmi.Status, v1.Failed, v1.PodNotExistsReason)
			return ctrl.Result{}, nil
		}
		return r.startPod(ctx, vmi)
	}

	v1.SetVMIPhase(&vmi.Status, v1.Scheduling)
	mirrorPodConditions(vmi, pod)
	switch {
	case rejectedAtAdmission(pod):
		// Nothing of the pod ran, so another is safe, as a ReplicaSet makes another. The
		// common cause is passing: virt-handler's device plugins re-registering while
		// virt-handler restarts (the kubelet's UnexpectedAdmissionError).
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, ReasonLauncherRejected, "The node refused the virt-launcher pod %s (%s: %s); creating another", pod.Name, pod.Status.Reason, pod.Status.Message)
		if err := r.deletePods(ctx, vmi, []k8sv1.Pod{*pod}); err != nil {
			return ctrl.Result{}, err
		}
		return r.startPod(ctx, vmi)
	case pod.Status.Phase == k8sv1.PodFailed || pod.Status.Phase == k8sv1.PodSucceeded:
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, reasonLauncherFailed, "The virt-launcher pod %s ended (%s) before the VMI started", pod.Name, pod.Status.Phase)
		v1.FinishVMI(&vmi.Status, v1.Failed, reasonLauncherFailed)
	case pod.DeletionTimestamp != nil:
		// Wait for it to go; then the VMI fails (above).
	case services.LauncherRunning(pod):
		// Hand-off: virt-handler on this node watches VMIs labelled with its name.
		patch := client.MergeFrom(vmi.DeepCopy())
		if vmi.Labels == nil {
			vmi.Labels = map[string]string{}
		}
		vmi.Labels[v1.NodeNameLabel] = pod.Spec.NodeName
		if err := r.Patch(ctx, vmi, patch); err != nil {
			return ctrl.Result{}, err
		}
		vmi.Status.NodeName = pod.Spec.NodeName
		vmi.Status.QOSClass = &pod.Status.QOSClass
		vmi.Status.LauncherContainerImageVersion = computeImage(pod)
		// The claims are bound now that the pod runs: their capacity is known, and the
		// launcher sizes new disks from it.
		claims, err := r.lookupClaims(ctx, vmi)
		if err != nil {
			return ctrl.Result{}, err
		}
		setClaimStatus(vmi, claims)
		v1.SetVMIPhase(&vmi.Status, v1.Scheduled)
		r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, string(v1.Scheduled), "The VMI was scheduled to node %s", pod.Spec.NodeName)
	}
	return ctrl.Result{}, nil
}

// reconcileHandedOff watches a Scheduled or Running VMI's pod: virt-handler reports the
// guest, but a pod deleted behind the VMI's back (or a node that lost its handler) is
// seen here.
func (r *Reconciler) reconcileHandedOff(ctx context.Context, vmi *v1.VirtualMachineInstance, pods []k8sv1.Pod) (ctrl.Result, error) {
	if newestPod(pods) != nil {
		return ctrl.Result{}, nil
	}
	r.Recorder.Event(vmi, k8sv1.EventTypeWarning, v1.PodNotExistsReason, "The virt-launcher pod is gone")
	v1.FinishVMI(&vmi.Status, v1.Failed, v1.PodNotExistsReason)
	return ctrl.Result{}, nil
}

// reconcileFinal removes what is left of a VMI that ended: a pod still terminating, then
// the finalizer (the guest is gone once the pod is).
func (r *Reconciler) reconcileFinal(ctx context.Context, vmi *v1.VirtualMachineInstance, pods []k8sv1.Pod) (ctrl.Result, error) {
	if live := livePods(pods); len(live) > 0 {
		return ctrl.Result{}, r.deletePods(ctx, vmi, live)
	}
	return ctrl.Result{}, r.removeFinalizer(ctx, vmi)
}

// reconcileDelete ends a deleted VMI. A guest that may be running (Scheduled, Running) is
// virt-handler's to shut down within the VMI's grace period; the pod ends when the guest
// does. Only when that takes too long does the pod get deleted here.
func (r *Reconciler) reconcileDelete(ctx context.Context, vmi *v1.VirtualMachineInstance, pods []k8sv1.Pod) (ctrl.Result, error) {
	live := livePods(pods)
	if len(live) == 0 {
		if !vmi.Status.Phase.IsFinal() {
			v1.FinishVMI(&vmi.Status, v1.Succeeded, "Deleted")
		}
		return ctrl.Result{}, r.removeFinalizer(ctx, vmi)
	}
	handlerOwned := vmi.Status.Phase == v1.Scheduled || vmi.Status.Phase == v1.Running
	if handlerOwned {
		deadline := vmi.DeletionTimestamp.Add(time.Duration(gracePeriod(vmi))*time.Second + shutdownSafetyMargin)
		if wait := time.Until(deadline); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		log.FromContext(ctx).Info("the guest outlived its grace period; deleting its pod")
	}
	return ctrl.Result{}, r.deletePods(ctx, vmi, live)
}

// startPod makes the VMI's launcher pod once its claims exist (a missing one is reported
// and waited for).
func (r *Reconciler) startPod(ctx context.Context, vmi *v1.VirtualMachineInstance) (ctrl.Result, error) {
	claims, err := r.lookupClaims(ctx, vmi)
	var missing *missingClaimError
	if errors.As(err, &missing) {
		// The claim's own event wakes the VMI (SetupWithManager).
		if c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized); c == nil || c.Reason != ReasonPVCNotFound {
			r.Recorder.Event(vmi, k8sv1.EventTypeNormal, ReasonPVCNotFound, missing.Error())
		}
		v1.SetVMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized, k8sv1.ConditionFalse, ReasonPVCNotFound, missing.Error())
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	setClaimStatus(vmi, claims)
	return ctrl.Result{}, r.createPod(ctx, vmi, claims)
}

func (r *Reconciler) createPod(ctx context.Context, vmi *v1.VirtualMachineInstance, claims map[string]*k8sv1.PersistentVolumeClaim) error {
	// The cache can lag behind a pod this controller made before it restarted: ask the
	// API server itself before making another.
	existing := &k8sv1.PodList{}
	if err := r.APIReader.List(ctx, existing, client.InNamespace(vmi.Namespace), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)}); err != nil {
		return err
	}
	for i := range existing.Items {
		if !rejectedAtAdmission(&existing.Items[i]) {
			r.Expectations.ExpectCreation(vmi.UID, existing.Items[i].Name)
			return nil
		}
	}
	pod, err := services.RenderLauncherPod(vmi, r.Config(ctx), claims)
	if err != nil {
		v1.SetVMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized, k8sv1.ConditionFalse, reasonFailedCreate, err.Error())
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, reasonFailedCreate, "Error rendering the virt-launcher pod: %v", err)
		v1.FinishVMI(&vmi.Status, v1.Failed, reasonFailedCreate)
		return nil
	}
	if err := r.Create(ctx, pod); err != nil {
		v1.SetVMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized, k8sv1.ConditionFalse, reasonFailedCreate, err.Error())
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, reasonFailedCreate, "Error creating pod: %v", err)
		return err
	}
	r.Expectations.ExpectCreation(vmi.UID, pod.Name)
	v1.RemoveVMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized)
	r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, reasonSuccessfulCreate, "Created virtual machine pod %s", pod.Name)
	return nil
}

func (r *Reconciler) deletePods(ctx context.Context, vmi *v1.VirtualMachineInstance, pods []k8sv1.Pod) error {
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		if err := r.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting pod %s: %w", p.Name, err)
		}
		r.Expectations.ExpectDeletion(vmi.UID, p.Name)
		r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, reasonSuccessfulDelete, "Deleted virtual machine pod %s", p.Name)
	}
	return nil
}

func (r *Reconciler) removeFinalizer(ctx context.Context, vmi *v1.VirtualMachineInstance) error {
	if !controllerutil.ContainsFinalizer(vmi, v1.VirtualMachineInstanceFinalizer) {
		return nil
	}
	// The status goes first: once the finalizer is off, a deleted VMI may vanish.
	if err := r.patchStatus(ctx, nil, vmi); err != nil {
		return err
	}
	patch := client.MergeFrom(vmi.DeepCopy())
	controllerutil.RemoveFinalizer(vmi, v1.VirtualMachineInstanceFinalizer)
	if err := r.Patch(ctx, vmi, patch); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	r.Expectations.Forget(vmi.UID)
	return nil
}

// patchStatus writes vmi's status when it differs from original's (nil: always). The
// patch carries the resourceVersion, so a status virt-handler wrote meanwhile is never
// overwritten: the conflict sends the VMI round again.
func (r *Reconciler) patchStatus(ctx context.Context, original, vmi *v1.VirtualMachineInstance) error {
	if original != nil && equality.Semantic.DeepEqual(original.Status, vmi.Status) {
		return nil
	}
	base := vmi.DeepCopy()
	if original != nil {
		base.Status = original.Status
	}
	base.ResourceVersion = vmi.ResourceVersion
	err := r.Status().Patch(ctx, vmi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (r *Reconciler) launcherPods(ctx context.Context, vmi *v1.VirtualMachineInstance) ([]k8sv1.Pod, error) {
	list := &k8sv1.PodList{}
	if err := r.List(ctx, list, client.InNamespace(vmi.Namespace), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

func hasPod(pods []k8sv1.Pod, name string) bool {
	for i := range pods {
		if pods[i].Name == name {
			return true
		}
	}
	return false
}

// newestPod is the VMI's pod; there is one, but a lagging cache could show two.
func newestPod(pods []k8sv1.Pod) *k8sv1.Pod {
	var newest *k8sv1.Pod
	for i := range pods {
		if newest == nil || pods[i].CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = &pods[i]
		}
	}
	return newest
}

// ReasonLauncherRejected is the VMI's event when the kubelet refused its virt-launcher
// pod at admission and virt-controller makes another.
const ReasonLauncherRejected = "LauncherRejected"

// rejectedAtAdmission: the kubelet refused the pod before starting any of its containers
// (it sets the phase Failed with a reason such as UnexpectedAdmissionError or
// OutOfcpu). An evicted pod ran, so it does not count.
func rejectedAtAdmission(pod *k8sv1.Pod) bool {
	if pod.Status.Phase != k8sv1.PodFailed || pod.Status.Reason == "" {
		return false
	}
	for _, statuses := range [][]k8sv1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			if cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil {
				return false
			}
		}
	}
	return true
}

// livePods are the pods whose containers may still run (and so a guest).
func livePods(pods []k8sv1.Pod) []k8sv1.Pod {
	var live []k8sv1.Pod
	for _, p := range pods {
		if p.Status.Phase != k8sv1.PodSucceeded && p.Status.Phase != k8sv1.PodFailed {
			live = append(live, p)
		}
	}
	return live
}

func computeImage(pod *k8sv1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == launcherv1.ComputeContainerName {
			return c.Image
		}
	}
	return ""
}

// mirrorPodConditions copies the pod's scheduling state and image pull trouble onto the
// VMI, where users (and the VM's printableStatus) look.
func mirrorPodConditions(vmi *v1.VirtualMachineInstance, pod *k8sv1.Pod) {
	for _, c := range pod.Status.Conditions {
		if c.Type == k8sv1.PodScheduled {
			v1.SetVMICondition(&vmi.Status, PodScheduledCondition, c.Status, c.Reason, c.Message)
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
			v1.SetVMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized, k8sv1.ConditionFalse, w.Reason, w.Message)
			return
		}
	}
	if c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized); c != nil && (c.Reason == "ErrImagePull" || c.Reason == "ImagePullBackOff") {
		v1.RemoveVMICondition(&vmi.Status, v1.VirtualMachineInstanceSynchronized)
	}
}

func gracePeriod(vmi *v1.VirtualMachineInstance) int64 {
	if vmi.Spec.TerminationGracePeriodSeconds != nil {
		return *vmi.Spec.TerminationGracePeriodSeconds
	}
	return v1.DefaultGracePeriodSeconds
}
