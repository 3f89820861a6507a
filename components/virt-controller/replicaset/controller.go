// Package replicaset is virt-controller's VirtualMachineInstanceReplicaSet controller:
// it keeps spec.replicas VMIs from the template running, adopts matching orphans,
// releases VMIs that stop matching, replaces finished ones, and sums them up in status
// (the scale subresource reads status.replicas and status.labelSelector).
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-controller/expectations"
	"github.com/hypernest/hypernest/pkg/metrics"
)

// burstReplicas caps the VMIs created or deleted in one pass, so that a replica set
// scaled to thousands does not flood the API server in one go; 250 is KubeVirt's
// (and Kubernetes' ReplicaSet controller's) burst.
const burstReplicas = 250

// Event and condition reasons, KubeVirt's.
const (
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonFailedCreate     = "FailedCreate"
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonFailedDelete     = "FailedDelete"
	reasonPaused           = "Paused"
)

// Reconciler keeps VMI replica sets' VMIs.
type Reconciler struct {
	client.Client
	Recorder     record.EventRecorder
	Expectations *expectations.Store
}

// SetupWithManager registers the controller: replica sets, the VMIs they own, and VMIs
// without an owner (a replica set may adopt them).
func (r *Reconciler) SetupWithManager(mgr manager.Manager, workers int) error {
	if r.Expectations == nil {
		r.Expectations = expectations.New()
	}
	return ctrl.ControllerManagedBy(mgr).
		Named("replicaset").
		For(&v1.VirtualMachineInstanceReplicaSet{}).
		Owns(&v1.VirtualMachineInstance{}).
		Watches(&v1.VirtualMachineInstance{}, handler.EnqueueRequestsFromMapFunc(r.replicaSetsForOrphan)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, NewQueue: metrics.Queue[reconcile.Request]("virt-controller-replicaset")}).
		Complete(r)
}

// replicaSetsForOrphan maps a VMI no controller owns to the replica sets whose selector
// matches it.
func (r *Reconciler) replicaSetsForOrphan(ctx context.Context, obj client.Object) []reconcile.Request {
	if metav1.GetControllerOf(obj) != nil || obj.GetDeletionTimestamp() != nil {
		return nil
	}
	list := &v1.VirtualMachineInstanceReplicaSetList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if sel, err := metav1.LabelSelectorAsSelector(list.Items[i].Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(obj.GetLabels())) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
		}
	}
	return reqs
}

// Reconcile brings one replica set's VMIs to its replicas and writes its status once, at
// the end.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (_ reconcile.Result, retErr error) {
	rs := &v1.VirtualMachineInstanceReplicaSet{}
	if err := r.Get(ctx, req.NamespacedName, rs); err != nil {
		if apierrors.IsNotFound(err) {
			// Its VMIs go with it: they carry its owner reference, and the garbage
			// collector deletes them.
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, err
	}
	if rs.DeletionTimestamp != nil {
		r.Expectations.Forget(rs.UID)
		return reconcile.Result{}, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || selector.Empty() || rs.Spec.Template == nil {
		// virt-api refuses such replica sets; one stored before it ran is reported.
		original := rs.DeepCopy()
		v1.SetReplicaSetCondition(&rs.Status, v1.VirtualMachineInstanceReplicaSetReplicaFailure, k8sv1.ConditionTrue, reasonFailedCreate,
			"spec.selector and spec.template are required, and the selector must not be empty")
		return reconcile.Result{}, r.patchStatus(ctx, original, rs)
	}

	vmis, err := r.claimVMIs(ctx, rs, selector)
	if err != nil {
		return reconcile.Result{}, err
	}
	// A VMI just created or deleted is observed once the cache shows it (or shows it
	// terminating). The store keeps the last one only: the cache sees events in order, so
	// once the last is there, every earlier one is too.
	if !r.Expectations.Satisfied(rs.UID, func(name string) bool {
		for _, vmi := range vmis {
			if vmi.Name == name {
				return vmi.DeletionTimestamp == nil
			}
		}
		return false
	}) {
		return reconcile.Result{RequeueAfter: 2 * time.Second}, nil
	}

	original := rs.DeepCopy()
	defer func() {
		updateStatus(rs, selector, vmis)
		if err := r.patchStatus(ctx, original, rs); err != nil && retErr == nil {
			retErr = err
		}
	}()

	if err := r.deleteFinished(ctx, rs, vmis); err != nil {
		return reconcile.Result{}, err
	}
	if rs.Spec.Paused {
		v1.SetReplicaSetCondition(&rs.Status, v1.VirtualMachineInstanceReplicaSetReplicaPaused, k8sv1.ConditionTrue, reasonPaused,
			"spec.paused is true: no VMI is created or deleted until it is false")
		return reconcile.Result{}, nil
	}
	v1.RemoveReplicaSetCondition(&rs.Status, v1.VirtualMachineInstanceReplicaSetReplicaPaused)
	return reconcile.Result{}, r.scale(ctx, rs, active(vmis))
}

// claimVMIs returns the replica set's VMIs: those it controls and still selects, and
// orphans it selects (adopted now). VMIs it controls but no longer selects are released,
// as Kubernetes' ReplicaSet does, so a relabelled VMI can be taken out for debugging.
func (r *Reconciler) claimVMIs(ctx context.Context, rs *v1.VirtualMachineInstanceReplicaSet, selector labels.Selector) ([]*v1.VirtualMachineInstance, error) {
	list := &v1.VirtualMachineInstanceList{}
	if err := r.List(ctx, list, client.InNamespace(rs.Namespace)); err != nil {
		return nil, err
	}
	var owned []*v1.VirtualMachineInstance
	for i := range list.Items {
		vmi := &list.Items[i]
		ref := metav1.GetControllerOf(vmi)
		matches := selector.Matches(labels.Set(vmi.Labels))
		switch {
		case ref != nil && ref.UID == rs.UID && matches:
			owned = append(owned, vmi)
		case ref != nil && ref.UID == rs.UID:
			if err := r.setOwner(ctx, vmi, nil); err != nil {
				return nil, err
			}
		case ref == nil && matches && vmi.DeletionTimestamp == nil:
			if err := r.setOwner(ctx, vmi, metav1.NewControllerRef(rs, v1.VirtualMachineInstanceReplicaSetGroupVersionKind)); err != nil {
				return nil, err
			}
			owned = append(owned, vmi)
		}
	}
	return owned, nil
}

// setOwner adopts (ref set) or releases (ref nil) a VMI, guarded by its UID and
// resourceVersion so that a VMI replaced or changed meanwhile is not touched.
func (r *Reconciler) setOwner(ctx context.Context, vmi *v1.VirtualMachineInstance, ref *metav1.OwnerReference) error {
	patch := client.MergeFromWithOptions(vmi.DeepCopy(), client.MergeFromWithOptimisticLock{})
	var refs []metav1.OwnerReference
	for _, o := range vmi.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			refs = append(refs, o)
		}
	}
	if ref != nil {
		refs = append(refs, *ref)
	}
	vmi.OwnerReferences = refs
	err := r.Patch(ctx, vmi, patch)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// deleteFinished deletes the replica set's VMIs that succeeded or failed: they count no
// more, and their replacements are created in the same pass.
func (r *Reconciler) deleteFinished(ctx context.Context, rs *v1.VirtualMachineInstanceReplicaSet, vmis []*v1.VirtualMachineInstance) error {
	var errs []error
	for _, vmi := range vmis {
		if vmi.DeletionTimestamp == nil && vmi.Status.Phase.IsFinal() {
			errs = append(errs, r.deleteVMI(ctx, rs, vmi))
		}
	}
	return errors.Join(errs...)
}

// scale creates or deletes VMIs until the replica set has spec.replicas active ones.
func (r *Reconciler) scale(ctx context.Context, rs *v1.VirtualMachineInstanceReplicaSet, vmis []*v1.VirtualMachineInstance) error {
	diff := int(desiredReplicas(rs)) - len(vmis)
	var errs []error
	switch {
	case diff > 0:
		for i := 0; i < min(diff, burstReplicas); i++ {
			if err := r.createVMI(ctx, rs); err != nil {
				errs = append(errs, err)
				break // the next ones would most likely fail the same way
			}
		}
	case diff < 0:
		for _, vmi := range deletionOrder(vmis)[:min(-diff, burstReplicas)] {
			errs = append(errs, r.deleteVMI(ctx, rs, vmi))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	v1.RemoveReplicaSetCondition(&rs.Status, v1.VirtualMachineInstanceReplicaSetReplicaFailure)
	return nil
}

func (r *Reconciler) createVMI(ctx context.Context, rs *v1.VirtualMachineInstanceReplicaSet) error {
	vmi := NewVMIFromTemplate(rs)
	if err := r.Create(ctx, vmi); err != nil {
		v1.SetReplicaSetCondition(&rs.Status, v1.VirtualMachineInstanceReplicaSetReplicaFailure, k8sv1.ConditionTrue, reasonFailedCreate, err.Error())
		r.Recorder.Eventf(rs, k8sv1.EventTypeWarning, reasonFailedCreate, "Error creating VMI: %v", err)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err) {
			return nil // the template is at fault: retrying will not help until it changes
		}
		return err
	}
	r.Expectations.ExpectCreation(rs.UID, vmi.Name)
	r.Recorder.Eventf(rs, k8sv1.EventTypeNormal, reasonSuccessfulCreate, "Created VMI %s", vmi.Name)
	return nil
}

func (r *Reconciler) deleteVMI(ctx context.Context, rs *v1.VirtualMachineInstanceReplicaSet, vmi *v1.VirtualMachineInstance) error {
	err := r.Delete(ctx, vmi, client.Preconditions{UID: &vmi.UID})
	if err != nil && !apierrors.IsNotFound(err) {
		v1.SetReplicaSetCondition(&rs.Status, v1.VirtualMachineInstanceReplicaSetReplicaFailure, k8sv1.ConditionTrue, reasonFailedDelete, err.Error())
		r.Recorder.Eventf(rs, k8sv1.EventTypeWarning, reasonFailedDelete, "Error deleting VMI %s: %v", vmi.Name, err)
		return err
	}
	r.Expectations.ExpectDeletion(rs.UID, vmi.Name)
	r.Recorder.Eventf(rs, k8sv1.EventTypeNormal, reasonSuccessfulDelete, "Deleted VMI %s", vmi.Name)
	return nil
}

// NewVMIFromTemplate is a new VMI of the replica set: its template, owned by it, named
// as KubeVirt names them (the template's name, else its generateName, else the replica
// set's name, followed by a random suffix).
func NewVMIFromTemplate(rs *v1.VirtualMachineInstanceReplicaSet) *v1.VirtualMachineInstance {
	t := rs.Spec.Template.DeepCopy()
	base := rs.Name
	switch {
	case t.ObjectMeta.Name != "":
		base = t.ObjectMeta.Name
	case t.ObjectMeta.GenerateName != "":
		base = t.ObjectMeta.GenerateName
	}
	return &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    base,
			Namespace:       rs.Namespace,
			Labels:          t.ObjectMeta.Labels,
			Annotations:     t.ObjectMeta.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, v1.VirtualMachineInstanceReplicaSetGroupVersionKind)},
		},
		Spec: t.Spec,
	}
}

// desiredReplicas is spec.replicas, 1 when unset (KubeVirt's default).
func desiredReplicas(rs *v1.VirtualMachineInstanceReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// active are the VMIs that count towards the replicas: not finished, not being deleted.
func active(vmis []*v1.VirtualMachineInstance) []*v1.VirtualMachineInstance {
	var out []*v1.VirtualMachineInstance
	for _, vmi := range vmis {
		if vmi.DeletionTimestamp == nil && !vmi.Status.Phase.IsFinal() {
			out = append(out, vmi)
		}
	}
	return out
}

// deletionOrder ranks VMIs for scale-down as Kubernetes' ReplicaSet ranks pods: those
// not yet on a node first, then those not running, then those not ready, then the
// newest, so the VMIs serving longest are kept.
func deletionOrder(vmis []*v1.VirtualMachineInstance) []*v1.VirtualMachineInstance {
	out := append([]*v1.VirtualMachineInstance(nil), vmis...)
	rank := func(vmi *v1.VirtualMachineInstance) int {
		switch {
		case vmi.Status.NodeName == "":
			return 0
		case vmi.Status.Phase != v1.Running:
			return 1
		case !isReady(vmi):
			return 2
		}
		return 3
	}
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := rank(out[i]), rank(out[j]); ri != rj {
			return ri < rj
		}
		return out[j].CreationTimestamp.Before(&out[i].CreationTimestamp)
	})
	return out
}

func isReady(vmi *v1.VirtualMachineInstance) bool {
	c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceReady)
	return vmi.DeletionTimestamp == nil && c != nil && c.Status == k8sv1.ConditionTrue
}

// updateStatus sums the VMIs up: status.replicas counts the active ones (KubeVirt's
// "managed and not final or deleted"), readyReplicas those Ready among them.
func updateStatus(rs *v1.VirtualMachineInstanceReplicaSet, selector labels.Selector, vmis []*v1.VirtualMachineInstance) {
	act := active(vmis)
	rs.Status.Replicas = int32(len(act))
	rs.Status.ReadyReplicas = 0
	for _, vmi := range act {
		if isReady(vmi) {
			rs.Status.ReadyReplicas++
		}
	}
	rs.Status.LabelSelector = selector.String()
}

// patchStatus writes the status when it changed, guarded by the resourceVersion.
func (r *Reconciler) patchStatus(ctx context.Context, original, rs *v1.VirtualMachineInstanceReplicaSet) error {
	if equality.Semantic.DeepEqual(original.Status, rs.Status) {
		return nil
	}
	base := rs.DeepCopy()
	base.Status = original.Status
	if err := r.Status().Patch(ctx, rs, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing the status of VirtualMachineInstanceReplicaSet %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}
