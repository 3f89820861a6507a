// Package pool is virt-controller's VirtualMachinePool controller: it keeps
// spec.replicas VirtualMachines named <pool>-<index> from the pool's template, removes
// the ones its scale-in strategy picks when the pool shrinks, brings VMs (and, for the
// proactive update strategy, their running guests) to a changed template, and sums the
// VMs up in status (the scale subresource reads status.replicas and labelSelector).
//
// Each pool spec a VM is made from is kept in a ControllerRevision <pool>-<generation>,
// named on the VM and its VMI by the kubevirt.io/vm-pool-revision-name label, as in
// KubeVirt: a VM is out of date when its revision's template differs from the pool's.
package pool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
	"github.com/hypernest/hypernest/components/virt-controller/expectations"
	"github.com/hypernest/hypernest/pkg/metrics"
)

// burstReplicas caps the VMs created or deleted in one pass; 250 is KubeVirt's burst
// for pools (and Kubernetes' ReplicaSet's).
const burstReplicas = 250

// updateBudgetRequeue: when maxUnavailable VMs are down for an update, look again in a
// few seconds (KubeVirt's pool controller waits 3 s).
const updateBudgetRequeue = 3 * time.Second

// Event and condition reasons, KubeVirt's.
const (
	reasonSuccessfulCreate   = "SuccessfulCreate"
	reasonFailedCreate       = "FailedCreate"
	reasonSuccessfulDelete   = "SuccessfulDelete"
	reasonFailedDelete       = "FailedDelete"
	reasonSuccessfulUpdate   = "SuccessfulUpdate"
	reasonFailedUpdate       = "FailedUpdate"
	reasonSuccessfulPaused   = "SuccessfulPaused"
	reasonSuccessfulResume   = "SuccessfulResume"
	reasonFailedScaleOut     = "FailedScaleOut"
	reasonFailedScaleIn      = "FailedScaleIn"
	reasonFailedRevisionSync = "FailedRevisionPruning"
)

// Reconciler keeps VirtualMachinePools' VMs.
type Reconciler struct {
	client.Client
	Recorder     record.EventRecorder
	Expectations *expectations.Store
}

// SetupWithManager registers the controller: pools, the VMs and revisions they own, and
// the VMIs of those VMs (an update restarts them; their revision label tells which).
func (r *Reconciler) SetupWithManager(mgr manager.Manager, workers int) error {
	if r.Expectations == nil {
		r.Expectations = expectations.New()
	}
	return ctrl.ControllerManagedBy(mgr).
		Named("pool").
		For(&poolv1.VirtualMachinePool{}).
		Owns(&v1.VirtualMachine{}).
		Watches(&v1.VirtualMachineInstance{}, handler.EnqueueRequestsFromMapFunc(r.poolOfVMI)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, NewQueue: metrics.Queue[reconcile.Request]("virt-controller-pool")}).
		Complete(r)
}

// poolOfVMI maps a VMI to the pool controlling its VM (a VM's VMI has the VM's name).
func (r *Reconciler) poolOfVMI(ctx context.Context, obj client.Object) []reconcile.Request {
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.Kind != "VirtualMachine" {
		return nil
	}
	vm := &v1.VirtualMachine{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: obj.GetNamespace(), Name: ref.Name}, vm); err != nil {
		return nil
	}
	if owner := metav1.GetControllerOf(vm); owner != nil && owner.Kind == poolv1.VirtualMachinePoolKind {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: vm.Namespace, Name: owner.Name}}}
	}
	return nil
}

// state is what one pass sees of a pool.
type state struct {
	pool     *poolv1.VirtualMachinePool
	selector labels.Selector
	// vms are the pool's VMs (terminating ones included), by name.
	vms []*v1.VirtualMachine
	// vmis are those VMs' VMIs, by VM name.
	vmis map[string]*v1.VirtualMachineInstance
	// taken are the names of every VM in the namespace: a new VM takes the lowest index
	// whose name is free.
	taken map[string]bool
}

// Reconcile brings one pool's VMs to its spec and writes its status once, at the end.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (_ reconcile.Result, retErr error) {
	pool := &poolv1.VirtualMachinePool{}
	if err := r.Get(ctx, req.NamespacedName, pool); err != nil {
		// A deleted pool's VMs and revisions carry its owner reference: the garbage
		// collector deletes them.
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if pool.DeletionTimestamp != nil {
		r.Expectations.Forget(pool.UID)
		return reconcile.Result{}, nil
	}
	original := pool.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(pool.Spec.Selector)
	if err != nil || selector.Empty() || pool.Spec.VirtualMachineTemplate == nil ||
		!selector.Matches(labels.Set(pool.Spec.VirtualMachineTemplate.ObjectMeta.Labels)) {
		// virt-api refuses such pools; one stored before it ran is reported.
		setCondition(pool, poolv1.VirtualMachinePoolReplicaFailure, k8sv1.ConditionTrue, reasonFailedScaleOut,
			"spec.selector and spec.virtualMachineTemplate are required, and the selector must match the template's labels")
		return reconcile.Result{}, r.patchStatus(ctx, original, pool)
	}

	s, err := r.observe(ctx, pool, selector)
	if err != nil {
		return reconcile.Result{}, err
	}
	// A VM just created or deleted is counted once the cache shows it (or shows it
	// terminating); the store keeps the last one, and the cache sees events in order.
	if !r.Expectations.Satisfied(pool.UID, func(name string) bool {
		for _, vm := range s.vms {
			if vm.Name == name {
				return vm.DeletionTimestamp == nil
			}
		}
		return false
	}) {
		return reconcile.Result{RequeueAfter: 2 * time.Second}, nil
	}

	defer func() {
		updateStatus(pool, selector, s.vms)
		if err := r.patchStatus(ctx, original, pool); err != nil && retErr == nil {
			retErr = err
		}
	}()

	if pool.Spec.Paused {
		if condition(pool, poolv1.VirtualMachinePoolReplicaPaused) == nil {
			r.Recorder.Event(pool, k8sv1.EventTypeNormal, reasonSuccessfulPaused, "Pool controller is paused")
		}
		setCondition(pool, poolv1.VirtualMachinePoolReplicaPaused, k8sv1.ConditionTrue, reasonSuccessfulPaused, "Pool controller is paused")
		return reconcile.Result{}, nil
	}
	if condition(pool, poolv1.VirtualMachinePoolReplicaPaused) != nil {
		removeCondition(pool, poolv1.VirtualMachinePoolReplicaPaused)
		r.Recorder.Event(pool, k8sv1.EventTypeNormal, reasonSuccessfulResume, "Pool controller is resumed")
	}

	result, reason, err := r.sync(ctx, s)
	if err != nil {
		setCondition(pool, poolv1.VirtualMachinePoolReplicaFailure, k8sv1.ConditionTrue, reason, err.Error())
		r.Recorder.Event(pool, k8sv1.EventTypeWarning, reason, err.Error())
		return reconcile.Result{}, err
	}
	removeCondition(pool, poolv1.VirtualMachinePoolReplicaFailure)
	return result, nil
}

// sync replaces the VMs autohealing gives up on, then brings the pool to its spec. It
// returns the failure's condition reason.
func (r *Reconciler) sync(ctx context.Context, s *state) (reconcile.Result, string, error) {
	var due time.Duration
	if s.pool.Spec.Autohealing != nil {
		healed, retry, err := r.autoheal(ctx, s)
		if err != nil || healed {
			// The replacements come once the deletions are observed.
			return reconcile.Result{}, reasonFailedScaleIn, err
		}
		due = retry
	}
	result, reason, err := r.syncReplicas(ctx, s)
	if due > 0 && (result.RequeueAfter == 0 || due < result.RequeueAfter) {
		result.RequeueAfter = due // a VM failing now is replaced on time
	}
	return result, reason, err
}

// syncReplicas scales the pool, and once it has its replicas, updates its VMs and
// prunes the revisions no VM or VMI names any more.
func (r *Reconciler) syncReplicas(ctx context.Context, s *state) (reconcile.Result, string, error) {
	diff := len(s.vms) - int(desiredReplicas(s.pool))
	switch {
	case diff < 0:
		return reconcile.Result{}, reasonFailedScaleOut, r.scaleOut(ctx, s, -diff)
	case diff > 0:
		return reconcile.Result{}, reasonFailedScaleIn, r.scaleIn(ctx, s, diff)
	}
	revisions, err := r.revisions(ctx, s.pool)
	if err != nil {
		return reconcile.Result{}, reasonFailedUpdate, err
	}
	result, err := r.update(ctx, s, revisions)
	if err != nil {
		return result, reasonFailedUpdate, err
	}
	return result, reasonFailedRevisionSync, r.pruneRevisions(ctx, s, revisions)
}

// Autohealing defaults, KubeVirt's: a VM is replaced after 3 failed starts in a row, or
// after failing to start (crash loop, unschedulable, image or volume errors) for 5 min.
const (
	defaultStartUpFailureThreshold   = 3
	defaultMinFailingToStartDuration = 5 * time.Minute
)

// failingToStart are the printable statuses of a VM that cannot get its guest going.
var failingToStart = map[v1.VirtualMachinePrintableStatus]bool{
	v1.VirtualMachineStatusCrashLoopBackOff: true,
	v1.VirtualMachineStatusUnschedulable:    true,
	v1.VirtualMachineStatusDataVolumeError:  true,
	v1.VirtualMachineStatusPvcNotFound:      true,
	v1.VirtualMachineStatusErrImagePull:     true,
	v1.VirtualMachineStatusImagePullBackOff: true,
}

// autoheal deletes the pool's VMs that keep failing to start; the next pass makes them
// again, fresh, under the same names. It reports whether it deleted any, and otherwise
// when a VM failing now would be due.
func (r *Reconciler) autoheal(ctx context.Context, s *state) (healed bool, retry time.Duration, err error) {
	threshold := defaultStartUpFailureThreshold
	if t := s.pool.Spec.Autohealing.StartUpFailureThreshold; t != nil {
		threshold = int(*t)
	}
	minFailing := defaultMinFailingToStartDuration
	if d := s.pool.Spec.Autohealing.MinFailingToStartDuration; d != nil {
		minFailing = d.Duration
	}
	var errs []error
	for _, vm := range s.vms {
		if vm.DeletionTimestamp != nil {
			continue
		}
		failures := 0
		if vm.Status.StartFailure != nil {
			failures = vm.Status.StartFailure.ConsecutiveFailCount
		}
		failingFor := time.Duration(0)
		if failingToStart[vm.Status.PrintableStatus] && !vmReady(vm) {
			since := vm.CreationTimestamp.Time
			if c := vmCondition(vm, v1.VirtualMachineReady); c != nil && !c.LastTransitionTime.IsZero() {
				since = c.LastTransitionTime.Time
			}
			failingFor = time.Since(since)
			if failingFor < minFailing && (retry == 0 || minFailing-failingFor < retry) {
				retry = minFailing - failingFor
			}
		}
		if failures < threshold && (failingFor == 0 || failingFor < minFailing) {
			continue
		}
		if err := r.Delete(ctx, vm, client.Preconditions{UID: &vm.UID}); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("autohealing VM %s: %w", vm.Name, err))
			continue
		}
		healed = true
		r.Expectations.ExpectDeletion(s.pool.UID, vm.Name)
		r.Recorder.Eventf(s.pool, k8sv1.EventTypeNormal, reasonSuccessfulDelete, "Deleted VM %s/%s to replace it: %d failed starts, %s %s",
			vm.Namespace, vm.Name, failures, vm.Status.PrintableStatus, failingFor.Round(time.Second))
	}
	return healed, retry, errors.Join(errs...)
}

// observe lists the pool's VMs, lets go of those that no longer match its selector (so a
// relabelled VM can be taken out, and is replaced), and finds their VMIs. VMs the pool
// does not control are never adopted: as in KubeVirt, a pool owns only what it made.
func (r *Reconciler) observe(ctx context.Context, pool *poolv1.VirtualMachinePool, selector labels.Selector) (*state, error) {
	s := &state{pool: pool, selector: selector, vmis: map[string]*v1.VirtualMachineInstance{}, taken: map[string]bool{}}
	vms := &v1.VirtualMachineList{}
	if err := r.List(ctx, vms, client.InNamespace(pool.Namespace)); err != nil {
		return nil, err
	}
	for i := range vms.Items {
		vm := &vms.Items[i]
		s.taken[vm.Name] = true
		ref := metav1.GetControllerOf(vm)
		if ref == nil || ref.UID != pool.UID {
			continue
		}
		if !selector.Matches(labels.Set(vm.Labels)) {
			if err := r.release(ctx, vm); err != nil {
				return nil, err
			}
			continue
		}
		s.vms = append(s.vms, vm)
	}
	sort.Slice(s.vms, func(i, j int) bool { return index(pool, s.vms[i]) < index(pool, s.vms[j]) })
	vmis := &v1.VirtualMachineInstanceList{}
	if err := r.List(ctx, vmis, client.InNamespace(pool.Namespace)); err != nil {
		return nil, err
	}
	for i := range vmis.Items {
		vmi := &vmis.Items[i]
		if ref := metav1.GetControllerOf(vmi); ref != nil && ref.Kind == "VirtualMachine" {
			s.vmis[ref.Name] = vmi
		}
	}
	return s, nil
}

// release removes the pool's controller reference from a VM, guarded by its
// resourceVersion.
func (r *Reconciler) release(ctx context.Context, vm *v1.VirtualMachine) error {
	patch := client.MergeFromWithOptions(vm.DeepCopy(), client.MergeFromWithOptimisticLock{})
	var refs []metav1.OwnerReference
	for _, o := range vm.OwnerReferences {
		if o.Controller == nil || !*o.Controller {
			refs = append(refs, o)
		}
	}
	vm.OwnerReferences = refs
	return client.IgnoreNotFound(r.Patch(ctx, vm, patch))
}

// scaleOut creates count VMs at the lowest free indexes.
func (r *Reconciler) scaleOut(ctx context.Context, s *state, count int) error {
	revision, err := r.ensureRevision(ctx, s.pool)
	if err != nil {
		return err
	}
	for i, created := 0, 0; created < min(count, burstReplicas); i++ {
		name := vmName(s.pool, i)
		if s.taken[name] {
			continue
		}
		vm := NewVM(s.pool, i, revision)
		if err := r.Create(ctx, vm); err != nil {
			r.Recorder.Eventf(s.pool, k8sv1.EventTypeWarning, reasonFailedCreate, "Error creating VM %s: %v", name, err)
			return fmt.Errorf("creating VM %s: %w", name, err)
		}
		s.taken[name] = true
		r.Expectations.ExpectCreation(s.pool.UID, name)
		r.Recorder.Eventf(s.pool, k8sv1.EventTypeNormal, reasonSuccessfulCreate, "Created VM %s/%s", vm.Namespace, name)
		created++
	}
	return nil
}

// scaleIn deletes count VMs as the scale-in strategy picks them: the proactive one (the
// default) deletes the first ones of its selection policy; the opportunistic and
// unmanaged ones delete nothing and let the pool shrink as VMs are deleted by others.
func (r *Reconciler) scaleIn(ctx context.Context, s *state, count int) error {
	strategy := s.pool.Spec.ScaleInStrategy
	var policy *poolv1.VirtualMachinePoolSelectionPolicy
	if strategy != nil {
		if strategy.Unmanaged != nil || strategy.Opportunistic != nil {
			return nil
		}
		if strategy.Proactive != nil {
			policy = strategy.Proactive.SelectionPolicy
		}
	}
	var candidates []*v1.VirtualMachine
	for _, vm := range s.vms {
		if vm.DeletionTimestamp != nil {
			count-- // already going
			continue
		}
		candidates = append(candidates, vm)
	}
	if count <= 0 {
		return nil
	}
	candidates = selectVMs(s.pool, policy, candidates)
	var errs []error
	for _, vm := range candidates[:min(count, burstReplicas, len(candidates))] {
		err := r.Delete(ctx, vm, client.Preconditions{UID: &vm.UID})
		if err != nil && !apierrors.IsNotFound(err) {
			r.Recorder.Eventf(s.pool, k8sv1.EventTypeWarning, reasonFailedDelete, "Error deleting VM %s: %v", vm.Name, err)
			errs = append(errs, fmt.Errorf("deleting VM %s: %w", vm.Name, err))
			continue
		}
		r.Expectations.ExpectDeletion(s.pool.UID, vm.Name)
		r.Recorder.Eventf(s.pool, k8sv1.EventTypeNormal, reasonSuccessfulDelete, "Deleted VM %s/%s", vm.Namespace, vm.Name)
	}
	return errors.Join(errs...)
}

// selectVMs filters VMs by the policy's selectors (matched against each VM's VMI
// template, as in KubeVirt) and orders them by its sortPolicy (Random when unset).
func selectVMs(pool *poolv1.VirtualMachinePool, policy *poolv1.VirtualMachinePoolSelectionPolicy, vms []*v1.VirtualMachine) []*v1.VirtualMachine {
	out := append([]*v1.VirtualMachine(nil), vms...)
	sortPolicy := poolv1.VirtualMachinePoolSortRandom
	if policy != nil && policy.SortPolicy != nil {
		sortPolicy = *policy.SortPolicy
	}
	sortVMs(pool, sortPolicy, out)
	if policy == nil || policy.Selectors == nil {
		return out
	}
	var kept []*v1.VirtualMachine
	for _, vm := range out {
		if matchesSelectors(policy.Selectors, vm) {
			kept = append(kept, vm)
		}
	}
	return kept
}

func sortVMs(pool *poolv1.VirtualMachinePool, policy poolv1.VirtualMachinePoolSortPolicy, vms []*v1.VirtualMachine) {
	switch policy {
	case poolv1.VirtualMachinePoolSortAscendingOrder:
		sort.SliceStable(vms, func(i, j int) bool { return index(pool, vms[i]) < index(pool, vms[j]) })
	case poolv1.VirtualMachinePoolSortDescendingOrder:
		sort.SliceStable(vms, func(i, j int) bool { return index(pool, vms[i]) > index(pool, vms[j]) })
	case poolv1.VirtualMachinePoolSortNewest:
		sort.SliceStable(vms, func(i, j int) bool { return vms[j].CreationTimestamp.Before(&vms[i].CreationTimestamp) })
	case poolv1.VirtualMachinePoolSortOldest:
		sort.SliceStable(vms, func(i, j int) bool { return vms[i].CreationTimestamp.Before(&vms[j].CreationTimestamp) })
	default: // Random, KubeVirt's default (and its answer to an unknown policy)
		rand.Shuffle(len(vms), func(i, j int) { vms[i], vms[j] = vms[j], vms[i] })
	}
}

// matchesSelectors: the label selector against the VM's VMI template labels, the node
// selector requirements against its VMI template's nodeSelector; both when both are set.
func matchesSelectors(sel *poolv1.VirtualMachinePoolSelectors, vm *v1.VirtualMachine) bool {
	var templateLabels, nodeSelector map[string]string
	if vm.Spec.Template != nil {
		templateLabels, nodeSelector = vm.Spec.Template.ObjectMeta.Labels, vm.Spec.Template.Spec.NodeSelector
	}
	if sel.LabelSelector != nil {
		ls, err := metav1.LabelSelectorAsSelector(sel.LabelSelector)
		if err != nil || !ls.Matches(labels.Set(templateLabels)) {
			return false
		}
	}
	if sel.NodeSelectorRequirementMatcher != nil {
		for _, req := range *sel.NodeSelectorRequirementMatcher {
			if !nodeRequirementMatches(req, nodeSelector) {
				return false
			}
		}
	}
	return true
}

// nodeRequirementMatches evaluates one node selector requirement against a VM's
// nodeSelector map, the way the scheduler evaluates it against node labels.
func nodeRequirementMatches(req k8sv1.NodeSelectorRequirement, nodeSelector map[string]string) bool {
	value, has := nodeSelector[req.Key]
	switch req.Operator {
	case k8sv1.NodeSelectorOpIn:
		return has && contains(req.Values, value)
	case k8sv1.NodeSelectorOpNotIn:
		return !has || !contains(req.Values, value)
	case k8sv1.NodeSelectorOpExists:
		return has
	case k8sv1.NodeSelectorOpDoesNotExist:
		return !has
	case k8sv1.NodeSelectorOpGt, k8sv1.NodeSelectorOpLt:
		if !has || len(req.Values) != 1 {
			return false
		}
		got, err1 := strconv.ParseInt(value, 10, 64)
		want, err2 := strconv.ParseInt(req.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if req.Operator == k8sv1.NodeSelectorOpGt {
			return got > want
		}
		return got < want
	}
	return false
}

func contains(values []string, v string) bool {
	for _, x := range values {
		if x == v {
			return true
		}
	}
	return false
}

// update brings the pool's VMs to its template (unless the update strategy is
// unmanaged), then, for the proactive strategy (the default), restarts the guests of
// updated VMs whose VMI still runs an older template, at most maxUnavailable at a time.
func (r *Reconciler) update(ctx context.Context, s *state, revisions map[string]*poolv1.VirtualMachinePoolSpec) (reconcile.Result, error) {
	strategy := s.pool.Spec.UpdateStrategy
	if strategy != nil && strategy.Unmanaged != nil {
		return reconcile.Result{}, nil
	}
	var policy *poolv1.VirtualMachinePoolSelectionPolicy
	if strategy != nil && strategy.Proactive != nil {
		policy = strategy.Proactive.SelectionPolicy
	}
	vms := s.vms
	if policy != nil && policy.Selectors != nil {
		vms = selectVMs(s.pool, &poolv1.VirtualMachinePoolSelectionPolicy{Selectors: policy.Selectors, SortPolicy: ptrTo(poolv1.VirtualMachinePoolSortAscendingOrder)}, vms)
	}
	var current string
	var err error
	for _, vm := range vms {
		if vm.DeletionTimestamp != nil || !outdatedVM(s.pool, vm, revisions) {
			continue
		}
		if current == "" {
			if current, err = r.ensureRevision(ctx, s.pool); err != nil {
				return reconcile.Result{}, err
			}
			revisions[current] = s.pool.Spec.DeepCopy()
		}
		if err := r.updateVM(ctx, s.pool, vm, current); err != nil {
			return reconcile.Result{}, err
		}
	}
	if strategy != nil && strategy.Opportunistic != nil {
		return reconcile.Result{}, nil // running guests get the template at their next start
	}
	return r.restartOutdatedGuests(ctx, s, vms, policy, revisions)
}

// outdatedVM: the VM names no revision, or one that is gone, or one whose VM template
// differs from the pool's.
func outdatedVM(pool *poolv1.VirtualMachinePool, vm *v1.VirtualMachine, revisions map[string]*poolv1.VirtualMachinePoolSpec) bool {
	spec := revisions[vm.Labels[poolv1.VirtualMachinePoolRevisionNameLabel]]
	return spec == nil || !equality.Semantic.DeepEqual(spec.VirtualMachineTemplate, pool.Spec.VirtualMachineTemplate)
}

// updateVM gives a VM the pool's template: its labels and annotations are replaced, its
// spec is the template's with its index, and the firmware UUID and serial the guest
// already knows are kept.
func (r *Reconciler) updateVM(ctx context.Context, pool *poolv1.VirtualMachinePool, vm *v1.VirtualMachine, revision string) error {
	want := NewVM(pool, index(pool, vm), revision)
	updated := vm.DeepCopy()
	updated.Labels, updated.Annotations = want.Labels, want.Annotations
	keepFirmwareIdentity(vm, want)
	updated.Spec = want.Spec
	if err := r.Update(ctx, updated); err != nil {
		r.Recorder.Eventf(pool, k8sv1.EventTypeWarning, reasonFailedUpdate, "Error updating VM %s: %v", vm.Name, err)
		return fmt.Errorf("updating VM %s to revision %s: %w", vm.Name, revision, err)
	}
	r.Recorder.Eventf(pool, k8sv1.EventTypeNormal, reasonSuccessfulUpdate, "Updated VM %s/%s to revision %s", vm.Namespace, vm.Name, revision)
	*vm = *updated
	return nil
}

func keepFirmwareIdentity(old, want *v1.VirtualMachine) {
	if old.Spec.Template == nil || old.Spec.Template.Spec.Domain.Firmware == nil || want.Spec.Template == nil {
		return
	}
	oldFw := old.Spec.Template.Spec.Domain.Firmware
	if want.Spec.Template.Spec.Domain.Firmware == nil {
		want.Spec.Template.Spec.Domain.Firmware = &v1.Firmware{}
	}
	fw := want.Spec.Template.Spec.Domain.Firmware
	if oldFw.UUID != "" {
		fw.UUID = oldFw.UUID
	}
	if oldFw.Serial != "" {
		fw.Serial = oldFw.Serial
	}
}

// restartOutdatedGuests restarts (deletes the VMI of) each up-to-date VM whose guest runs
// an older VMI template; the VM controller starts it again from the new one. A VMI whose
// template did not change only gets the new revision label. Guests that are not ready
// are restarted first and cost nothing; others only while fewer than maxUnavailable of
// the pool's guests are down.
func (r *Reconciler) restartOutdatedGuests(ctx context.Context, s *state, vms []*v1.VirtualMachine, policy *poolv1.VirtualMachinePoolSelectionPolicy,
	revisions map[string]*poolv1.VirtualMachinePoolSpec) (reconcile.Result, error) {
	budget := maxUnavailable(s.pool)
	for _, vm := range s.vms {
		if vmi := s.vmis[vm.Name]; vmi == nil || vmi.DeletionTimestamp != nil || vmi.Status.Phase != v1.Running || !vmiReady(vmi) {
			budget--
		}
	}
	if policy != nil && policy.SortPolicy != nil {
		vms = selectVMs(s.pool, &poolv1.VirtualMachinePoolSelectionPolicy{SortPolicy: policy.SortPolicy}, vms)
	}
	// Guests not ready first: restarting them takes nothing that serves.
	sort.SliceStable(vms, func(i, j int) bool { return !vmReady(vms[i]) && vmReady(vms[j]) })
	waiting := false
	for _, vm := range vms {
		vmi := s.vmis[vm.Name]
		vmRevision := vm.Labels[poolv1.VirtualMachinePoolRevisionNameLabel]
		if vm.DeletionTimestamp != nil || vmi == nil || vmi.DeletionTimestamp != nil || outdatedVM(s.pool, vm, revisions) ||
			vmi.Labels[poolv1.VirtualMachinePoolRevisionNameLabel] == vmRevision {
			continue
		}
		if !guestTemplateChanged(vmi, vmRevision, revisions) {
			patch := client.MergeFrom(vmi.DeepCopy())
			if vmi.Labels == nil {
				vmi.Labels = map[string]string{}
			}
			vmi.Labels[poolv1.VirtualMachinePoolRevisionNameLabel] = vmRevision
			if err := r.Patch(ctx, vmi, patch); client.IgnoreNotFound(err) != nil {
				return reconcile.Result{}, fmt.Errorf("relabelling VMI %s: %w", vmi.Name, err)
			}
			continue
		}
		if vmReady(vm) {
			if budget <= 0 {
				waiting = true
				continue
			}
			budget--
		}
		if err := r.Delete(ctx, vmi, client.Preconditions{UID: &vmi.UID}); client.IgnoreNotFound(err) != nil {
			r.Recorder.Eventf(s.pool, k8sv1.EventTypeWarning, reasonFailedUpdate, "Error restarting VM %s: %v", vm.Name, err)
			return reconcile.Result{}, fmt.Errorf("restarting VM %s for revision %s: %w", vm.Name, vmRevision, err)
		}
		r.Recorder.Eventf(s.pool, k8sv1.EventTypeNormal, reasonSuccessfulUpdate, "Restarted VM %s/%s for revision %s", vm.Namespace, vm.Name, vmRevision)
	}
	if waiting {
		return reconcile.Result{RequeueAfter: updateBudgetRequeue}, nil
	}
	return reconcile.Result{}, nil
}

// guestTemplateChanged: the VMI was made from a revision whose VMI template differs from
// that of the VM's revision (or the VMI's revision is unknown).
func guestTemplateChanged(vmi *v1.VirtualMachineInstance, vmRevision string, revisions map[string]*poolv1.VirtualMachinePoolSpec) bool {
	old, cur := revisions[vmi.Labels[poolv1.VirtualMachinePoolRevisionNameLabel]], revisions[vmRevision]
	if old == nil || cur == nil || old.VirtualMachineTemplate == nil || cur.VirtualMachineTemplate == nil {
		return true
	}
	return !equality.Semantic.DeepEqual(old.VirtualMachineTemplate.Spec.Template, cur.VirtualMachineTemplate.Spec.Template)
}

// maxUnavailable resolves spec.maxUnavailable (default 100%) against the replicas; a
// percentage rounds down but allows at least one.
func maxUnavailable(pool *poolv1.VirtualMachinePool) int {
	replicas := int(desiredReplicas(pool))
	mu := intstr.FromString("100%")
	if pool.Spec.MaxUnavailable != nil {
		mu = *pool.Spec.MaxUnavailable
	}
	if mu.Type == intstr.Int {
		return mu.IntValue()
	}
	pct, err := strconv.Atoi(strings.TrimSuffix(mu.StrVal, "%"))
	if err != nil {
		return 1 // virt-api refuses such values; be careful with one stored before it ran
	}
	return max(replicas*pct/100, 1)
}

// ensureRevision returns the name of the ControllerRevision of the pool's current
// generation, creating it when it is missing.
func (r *Reconciler) ensureRevision(ctx context.Context, pool *poolv1.VirtualMachinePool) (string, error) {
	name := revisionName(pool)
	data, err := json.Marshal(pool.Spec)
	if err != nil {
		return "", err
	}
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: pool.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(pool, poolv1.VirtualMachinePoolGroupVersionKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: pool.Generation,
	}
	if err := r.Create(ctx, rev); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating ControllerRevision %s: %w", name, err)
	}
	return name, nil
}

// revisions are the pool's ControllerRevisions, decoded, by name; an unreadable one maps
// to nil (the VMs naming it count as out of date, and it is pruned like the others).
func (r *Reconciler) revisions(ctx context.Context, pool *poolv1.VirtualMachinePool) (map[string]*poolv1.VirtualMachinePoolSpec, error) {
	list := &appsv1.ControllerRevisionList{}
	if err := r.List(ctx, list, client.InNamespace(pool.Namespace)); err != nil {
		return nil, err
	}
	out := map[string]*poolv1.VirtualMachinePoolSpec{}
	for i := range list.Items {
		rev := &list.Items[i]
		if ref := metav1.GetControllerOf(rev); ref == nil || ref.UID != pool.UID {
			continue
		}
		spec := &poolv1.VirtualMachinePoolSpec{}
		if err := json.Unmarshal(rev.Data.Raw, spec); err != nil {
			spec = nil
		}
		out[rev.Name] = spec
	}
	return out, nil
}

// pruneRevisions deletes the pool's revisions that none of its VMs and VMIs names.
func (r *Reconciler) pruneRevisions(ctx context.Context, s *state, revisions map[string]*poolv1.VirtualMachinePoolSpec) error {
	used := map[string]bool{}
	for _, vm := range s.vms {
		used[vm.Labels[poolv1.VirtualMachinePoolRevisionNameLabel]] = true
		if vmi := s.vmis[vm.Name]; vmi != nil {
			used[vmi.Labels[poolv1.VirtualMachinePoolRevisionNameLabel]] = true
		}
	}
	var errs []error
	for name := range revisions {
		if used[name] {
			continue
		}
		rev := &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Namespace: s.pool.Namespace, Name: name}}
		if err := r.Delete(ctx, rev); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting ControllerRevision %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// NewVM is the pool's VM at an index: the template with the revision label on the VM
// and its VMI template, owned by the pool, and the index appended to the names the
// template refers to per VM.
func NewVM(pool *poolv1.VirtualMachinePool, index int, revision string) *v1.VirtualMachine {
	t := pool.Spec.VirtualMachineTemplate.DeepCopy()
	vm := &v1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{
			Name:            vmName(pool, index),
			Namespace:       pool.Namespace,
			Labels:          withLabel(t.ObjectMeta.Labels, poolv1.VirtualMachinePoolRevisionNameLabel, revision),
			Annotations:     t.ObjectMeta.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(pool, poolv1.VirtualMachinePoolGroupVersionKind)},
		},
		Spec: t.Spec,
	}
	if vm.Spec.Template != nil {
		vm.Spec.Template.ObjectMeta.Labels = withLabel(vm.Spec.Template.ObjectMeta.Labels, poolv1.VirtualMachinePoolRevisionNameLabel, revision)
	}
	indexVMSpec(pool, &vm.Spec, index)
	return vm
}

// indexVMSpec appends -<index> to what each VM must have its own of: its DataVolume
// templates (and the volumes naming them), and, when spec.nameGeneration asks,
// ConfigMap volumes and Secrets (Secret volumes and cloud-init user and network data).
func indexVMSpec(pool *poolv1.VirtualMachinePool, spec *v1.VirtualMachineSpec, index int) {
	suffix := func(name string) string { return name + "-" + strconv.Itoa(index) }
	templated := map[string]bool{}
	for i := range spec.DataVolumeTemplates {
		templated[spec.DataVolumeTemplates[i].ObjectMeta.Name] = true
		spec.DataVolumeTemplates[i].ObjectMeta.Name = suffix(spec.DataVolumeTemplates[i].ObjectMeta.Name)
	}
	if spec.Template == nil {
		return
	}
	gen := pool.Spec.NameGeneration
	configMaps := gen != nil && gen.AppendIndexToConfigMapRefs != nil && *gen.AppendIndexToConfigMapRefs
	secrets := gen != nil && gen.AppendIndexToSecretRefs != nil && *gen.AppendIndexToSecretRefs
	secretRef := func(ref *k8sv1.LocalObjectReference) {
		if secrets && ref != nil {
			ref.Name = suffix(ref.Name)
		}
	}
	for i := range spec.Template.Spec.Volumes {
		vol := &spec.Template.Spec.Volumes[i]
		switch {
		case vol.PersistentVolumeClaim != nil:
			if templated[vol.PersistentVolumeClaim.ClaimName] {
				vol.PersistentVolumeClaim.ClaimName = suffix(vol.PersistentVolumeClaim.ClaimName)
			}
		case vol.DataVolume != nil:
			if templated[vol.DataVolume.Name] {
				vol.DataVolume.Name = suffix(vol.DataVolume.Name)
			}
		case vol.ConfigMap != nil && configMaps:
			vol.ConfigMap.Name = suffix(vol.ConfigMap.Name)
		case vol.Secret != nil && secrets:
			vol.Secret.SecretName = suffix(vol.Secret.SecretName)
		case vol.CloudInitNoCloud != nil:
			secretRef(vol.CloudInitNoCloud.UserDataSecretRef)
			secretRef(vol.CloudInitNoCloud.NetworkDataSecretRef)
		case vol.CloudInitConfigDrive != nil:
			secretRef(vol.CloudInitConfigDrive.UserDataSecretRef)
			secretRef(vol.CloudInitConfigDrive.NetworkDataSecretRef)
		}
	}
}

func withLabel(in map[string]string, key, value string) map[string]string {
	out := make(map[string]string, len(in)+1)
	for k, v := range in {
		out[k] = v
	}
	out[key] = value
	return out
}

func vmName(pool *poolv1.VirtualMachinePool, index int) string {
	return pool.Name + "-" + strconv.Itoa(index)
}

// index is a pool VM's index from its name (<pool>-<index>); -1 if it has none.
func index(pool *poolv1.VirtualMachinePool, vm *v1.VirtualMachine) int {
	i, err := strconv.Atoi(strings.TrimPrefix(vm.Name, pool.Name+"-"))
	if err != nil || !strings.HasPrefix(vm.Name, pool.Name+"-") {
		return -1
	}
	return i
}

func revisionName(pool *poolv1.VirtualMachinePool) string {
	return pool.Name + "-" + strconv.FormatInt(pool.Generation, 10)
}

// desiredReplicas is spec.replicas, 1 when unset (KubeVirt's default).
func desiredReplicas(pool *poolv1.VirtualMachinePool) int32 {
	if pool.Spec.Replicas == nil {
		return 1
	}
	return *pool.Spec.Replicas
}

func vmReady(vm *v1.VirtualMachine) bool {
	c := vmCondition(vm, v1.VirtualMachineReady)
	return c != nil && c.Status == k8sv1.ConditionTrue
}

func vmCondition(vm *v1.VirtualMachine, t v1.VirtualMachineConditionType) *v1.VirtualMachineCondition {
	for i := range vm.Status.Conditions {
		if vm.Status.Conditions[i].Type == t {
			return &vm.Status.Conditions[i]
		}
	}
	return nil
}

func vmiReady(vmi *v1.VirtualMachineInstance) bool {
	c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceReady)
	return c != nil && c.Status == k8sv1.ConditionTrue
}

// updateStatus: replicas counts the pool's VMs (terminating ones too, as KubeVirt
// does), readyReplicas those whose Ready condition is True.
func updateStatus(pool *poolv1.VirtualMachinePool, selector labels.Selector, vms []*v1.VirtualMachine) {
	pool.Status.Replicas = int32(len(vms))
	pool.Status.ReadyReplicas = 0
	for _, vm := range vms {
		if vmReady(vm) {
			pool.Status.ReadyReplicas++
		}
	}
	pool.Status.LabelSelector = selector.String()
}

// patchStatus writes the status when it changed, guarded by the resourceVersion.
func (r *Reconciler) patchStatus(ctx context.Context, original, pool *poolv1.VirtualMachinePool) error {
	if equality.Semantic.DeepEqual(original.Status, pool.Status) {
		return nil
	}
	base := pool.DeepCopy()
	base.Status = original.Status
	if err := r.Status().Patch(ctx, pool, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing the status of VirtualMachinePool %s/%s: %w", pool.Namespace, pool.Name, err)
	}
	return nil
}

func condition(pool *poolv1.VirtualMachinePool, t poolv1.VirtualMachinePoolConditionType) *poolv1.VirtualMachinePoolCondition {
	for i := range pool.Status.Conditions {
		if pool.Status.Conditions[i].Type == t {
			return &pool.Status.Conditions[i]
		}
	}
	return nil
}

// setCondition sets a condition, moving lastTransitionTime only when its status changes.
func setCondition(pool *poolv1.VirtualMachinePool, t poolv1.VirtualMachinePoolConditionType, status k8sv1.ConditionStatus, reason, message string) {
	now := metav1.Now()
	if c := condition(pool, t); c != nil {
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	pool.Status.Conditions = append(pool.Status.Conditions, poolv1.VirtualMachinePoolCondition{
		Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: now, LastProbeTime: now,
	})
}

func removeCondition(pool *poolv1.VirtualMachinePool, t poolv1.VirtualMachinePoolConditionType) {
	kept := pool.Status.Conditions[:0]
	for _, c := range pool.Status.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	pool.Status.Conditions = kept
}

func ptrTo[T any](v T) *T { return &v }
