// Package migration is virt-controller's VirtualMachineInstanceMigration controller. It
// takes a migration from Pending to the hand-off: a target virt-launcher pod, running on
// another node than the VMI's, named in the VMI's status.migrationState together with
// the VMI's label kubevirt.io/migrationTargetNodeName (the virt-handler of that node then
// prepares the target). From there it follows what the two nodes' virt-handlers write
// into status.migrationState until the migration succeeded or failed; it cancels a
// migration that is deleted before its end, and it keeps the newest final migrations of
// each VMI only. The phases, events and messages are KubeVirt's (docs/live-migration.md
// §5), so tools and runbooks written for KubeVirt read them unchanged.
package migration

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-controller/services"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/metrics"
)

// Timeouts, KubeVirt's defaults (its migration controller). The limits on parallel
// migrations come from the KubeVirt object (Reconciler.Limits).
const (
	// unschedulableTimeout: a target pod the scheduler cannot place is given up after
	// this long (KubeVirt's defaultUnschedulablePendingTimeoutSeconds).
	unschedulableTimeout = 300 * time.Second
	// pendingTimeout: a target pod pending for any other reason (image pull, a node
	// that does not start it) is given up after this long
	// (defaultCatchAllPendingTimeoutSeconds).
	pendingTimeout = 900 * time.Second
	// finalKept: final migrations kept per VMI, newest first; older ones are deleted
	// (defaultFinalizedMigrationGarbageCollectionBuffer).
	finalKept = 5
	// capacityRetry: how soon a migration waiting for capacity looks again (KubeVirt: 1,
	// 3 or 5 s by priority; a final migration wakes the waiting ones sooner).
	capacityRetry = 5 * time.Second
)

// Event reasons, KubeVirt's.
const (
	reasonSuccessfulCreate       = "SuccessfulCreate"
	reasonFailedCreate           = v1.FailedCreateReason
	reasonSuccessfulDelete       = "SuccessfulDelete"
	reasonSuccessfulHandOver     = "SuccessfulHandOver"
	reasonFailedHandOver         = "FailedHandOver"
	reasonFailedMigration        = "FailedMigration"
	reasonSuccessfulMigration    = "SuccessfulMigration"
	reasonSuccessfulAbort        = "SuccessfulAbortMigration"
	reasonTargetPodUnschedulable = "migrationTargetPodUnschedulable"
)

// Reconciler runs VirtualMachineInstanceMigrations.
type Reconciler struct {
	client.Client
	// APIReader reads around the cache: the last check before a target pod is created.
	APIReader client.Reader
	Recorder  record.EventRecorder
	// Config renders launcher pods as the VMI controller does.
	Config func(context.Context) services.LauncherPodConfig
	// Migrations is the cluster's migration settings, KubeVirt's defaults filled in
	// (a copy the caller may change); a MigrationPolicy overlays its own.
	Migrations func(context.Context) *v1.MigrationConfiguration
	// Limits are the most migrations with a target pod, cluster-wide and leaving one
	// node (the KubeVirt object's spec.configuration.migrations, read at each decision);
	// nil means KubeVirt's defaults.
	Limits func(context.Context) (perCluster, outboundPerNode int)
	// Now is the clock (tests move it).
	Now func() time.Time

	// capacity is held from the count of running migrations to the creation of a target
	// pod (haveRoom).
	capacity sync.Mutex
}

// SetupWithManager registers the controller: migrations, the target pods they make (a
// pod's migrationJobName annotation names its migration) and the VMIs they move.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	targetPods := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetLabels()[v1.MigrationJobLabel] != "" })
	return ctrl.NewControllerManagedBy(mgr).
		Named("migration").
		For(&v1.VirtualMachineInstanceMigration{}).
		Watches(&k8sv1.Pod{}, handler.EnqueueRequestsFromMapFunc(migrationOfPod), builder.WithPredicates(targetPods)).
		Watches(&v1.VirtualMachineInstance{}, handler.EnqueueRequestsFromMapFunc(r.migrationsOfVMI)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, NewQueue: metrics.Queue[reconcile.Request]("virt-controller-migration")}).
		Complete(r)
}

func migrationOfPod(_ context.Context, o client.Object) []reconcile.Request {
	name := o.GetAnnotations()[v1.MigrationJobNameAnnotation]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
}

// migrationsOfVMI wakes the migrations of a VMI that changed: the handlers report
// progress in its status.
func (r *Reconciler) migrationsOfVMI(ctx context.Context, o client.Object) []reconcile.Request {
	list := &v1.VirtualMachineInstanceMigrationList{}
	if err := r.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingLabels{v1.MigrationSelectorLabel: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the migrations of a VMI", "vmi", o.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for _, m := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Name}})
	}
	return reqs
}

// Reconcile moves one migration as far along its phases as what it observes allows.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	vmim := &v1.VirtualMachineInstanceMigration{}
	if err := r.Get(ctx, req.NamespacedName, vmim); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("vmi", vmim.Spec.VMIName, "uid", vmim.UID))

	// One status patch at the end, whatever the phase functions did.
	original := vmim.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, original, vmim); err != nil && retErr == nil {
			retErr = err
		}
	}()

	if vmim.Status.Phase.IsFinal() {
		return r.reconcileFinal(ctx, vmim)
	}
	if vmim.DeletionTimestamp == nil {
		if err := r.ensureMetadata(ctx, vmim); err != nil {
			return ctrl.Result{}, err
		}
		original.ObjectMeta = vmim.ObjectMeta
	}

	vmi := &v1.VirtualMachineInstance{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: vmim.Namespace, Name: vmim.Spec.VMIName}, vmi); apierrors.IsNotFound(err) {
		r.fail(vmim, vmim, "Migration failed because vmi does not exist.")
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	target, err := r.targetPod(ctx, r.Client, vmim, vmi)
	if err != nil {
		return ctrl.Result{}, err
	}
	if (targetCreated(vmim.Status.Phase) && target == nil) || (pastHandOff(vmim.Status.Phase) && !handedOff(vmim, vmi)) {
		// The cache may not show yet the pod or the hand-off this controller wrote a
		// moment ago: ask the API server before failing the migration for their absence.
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(vmi), vmi); client.IgnoreNotFound(err) != nil {
			return ctrl.Result{}, err
		}
		if target, err = r.targetPod(ctx, r.APIReader, vmim, vmi); err != nil {
			return ctrl.Result{}, err
		}
	}

	if vmim.DeletionTimestamp != nil {
		return r.reconcileCancel(ctx, vmim, vmi, target)
	}
	if r.failed(vmim, vmi, target) {
		if err := r.endBeforeStart(ctx, vmim, vmi); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, r.deleteTarget(ctx, vmim, vmi, target)
	}
	return r.advance(ctx, vmim, vmi, target)
}

// ensureMetadata adds the finalizer (so a target pod is never left behind) and the label
// naming the VMI, which virt-api's mutating webhook normally sets already.
func (r *Reconciler) ensureMetadata(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration) error {
	if controllerutil.ContainsFinalizer(vmim, v1.MigrationFinalizer) && vmim.Labels[v1.MigrationSelectorLabel] == vmim.Spec.VMIName {
		return nil
	}
	patch := client.MergeFrom(vmim.DeepCopy())
	controllerutil.AddFinalizer(vmim, v1.MigrationFinalizer)
	if vmim.Labels == nil {
		vmim.Labels = map[string]string{}
	}
	vmim.Labels[v1.MigrationSelectorLabel] = vmim.Spec.VMIName
	return r.Patch(ctx, vmim, patch)
}

// handedOff: the VMI's status names this migration, so the handlers act on it.
func handedOff(vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance) bool {
	ms := vmi.Status.MigrationState
	return ms != nil && ms.MigrationUID == vmim.UID
}

// targetCreated: the phase is past the target pod's creation.
func targetCreated(p v1.VirtualMachineInstanceMigrationPhase) bool {
	return p != v1.MigrationPhaseUnset && p != v1.MigrationPending
}

// pastHandOff: the phase is past the hand-off, so the VMI's status must name it.
func pastHandOff(p v1.VirtualMachineInstanceMigrationPhase) bool {
	return targetCreated(p) && p != v1.MigrationScheduling && p != v1.MigrationScheduled
}

// failed checks, before any phase logic, what ends a migration early (KubeVirt's
// messages); it reports whether the migration is now Failed.
func (r *Reconciler) failed(vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance, target *k8sv1.Pod) bool {
	phase := vmim.Status.Phase
	ms := vmi.Status.MigrationState
	switch {
	case vmi.Status.Phase.IsFinal() || vmi.DeletionTimestamp != nil:
		r.fail(vmim, vmi, "Migration failed vmi shutdown during migration.")
	case pastHandOff(phase) && ms == nil:
		r.fail(vmim, vmi, "VMI's migration state was cleared during the active migration.")
	case pastHandOff(phase) && ms.MigrationUID != vmim.UID:
		r.fail(vmim, vmi, "VMI's migration state was taken over by another migration job during active migration.")
	case handedOff(vmim, vmi) && ms.Failed:
		r.fail(vmim, vmi, "source node reported migration failed")
	case handedOff(vmim, vmi) && ms.Completed:
		return false // the guest moved; the target pod is the VMI's pod now
	case targetCreated(phase) && target == nil:
		r.fail(vmim, vmi, "Migration target pod was removed during active migration.")
	case target != nil && (target.Status.Phase == k8sv1.PodSucceeded || target.Status.Phase == k8sv1.PodFailed):
		r.fail(vmim, vmi, "Migration failed because target pod shutdown during migration")
	default:
		return false
	}
	return true
}

// advance moves the migration through its phases, as far as one pass can.
func (r *Reconciler) advance(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance, target *k8sv1.Pod) (ctrl.Result, error) {
	if vmim.Status.Phase == v1.MigrationPhaseUnset {
		busy, err := r.migratingElsewhere(ctx, vmim, vmi)
		if err != nil {
			return ctrl.Result{}, err
		}
		if busy {
			r.fail(vmim, vmim, "VMI is not eligible for migration because another migration job is in progress.")
			return ctrl.Result{}, nil
		}
		setPhase(vmim, v1.MigrationPending)
	}

	if vmim.Status.Phase == v1.MigrationPending {
		if target == nil {
			return r.createTarget(ctx, vmim, vmi)
		}
		setPhase(vmim, v1.MigrationScheduling)
	}

	if vmim.Status.Phase == v1.MigrationScheduling {
		if !podReady(target) {
			return r.waitForTarget(ctx, vmim, vmi, target)
		}
		setPhase(vmim, v1.MigrationScheduled)
	}

	if vmim.Status.Phase == v1.MigrationScheduled {
		if !handedOff(vmim, vmi) {
			if err := r.handOff(ctx, vmim, vmi, target); err != nil {
				return ctrl.Result{}, err
			}
		}
		setPhase(vmim, v1.MigrationPreparingTarget)
	}

	// From here on the handlers write the VMI's migrationState; its change wakes us.
	ms := vmi.Status.MigrationState
	if vmim.Status.Phase == v1.MigrationPreparingTarget && ms.TargetNodeAddress != "" {
		setPhase(vmim, v1.MigrationTargetReady)
	}
	if vmim.Status.Phase == v1.MigrationTargetReady && ms.StartTimestamp != nil {
		setPhase(vmim, v1.MigrationRunning)
	}
	if vmim.Status.Phase == v1.MigrationRunning && ms.Completed && !ms.Failed {
		setPhase(vmim, v1.MigrationSucceeded)
		vmim.Status.MigrationState = ms.DeepCopy()
		r.Recorder.Event(vmim, k8sv1.EventTypeNormal, reasonSuccessfulMigration, "Source node reported migration succeeded")
	}
	return ctrl.Result{}, nil
}

// migratingElsewhere: the VMI's status names another migration that has not ended (its
// owner decides, as in KubeVirt, not the state's flags: a migration that failed before
// the handlers wrote them must not block the VMI for ever).
func (r *Reconciler) migratingElsewhere(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance) (bool, error) {
	ms := vmi.Status.MigrationState
	if ms == nil || ms.MigrationUID == "" || ms.MigrationUID == vmim.UID {
		return false, nil
	}
	list := &v1.VirtualMachineInstanceMigrationList{}
	if err := r.List(ctx, list, client.InNamespace(vmim.Namespace), client.MatchingLabels{v1.MigrationSelectorLabel: vmi.Name}); err != nil {
		return false, err
	}
	for _, m := range list.Items {
		if m.UID == ms.MigrationUID && !m.Status.Phase.IsFinal() {
			return true, nil
		}
	}
	return false, nil
}

// createTarget makes the target launcher pod, when the VMI runs and there is room.
func (r *Reconciler) createTarget(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance) (ctrl.Result, error) {
	if vmi.Status.Phase != v1.Running || vmi.Status.NodeName == "" {
		// Its change of phase wakes the migration.
		return ctrl.Result{}, nil
	}
	source, err := r.sourcePod(ctx, vmi)
	if err != nil {
		return ctrl.Result{}, err
	}
	if source == nil {
		// The VMI controller fails a running VMI whose pod is gone; that wakes us.
		return ctrl.Result{}, nil
	}
	// The cache can lag behind a pod this controller made before it restarted: ask the
	// API server itself before making another.
	existing := &k8sv1.PodList{}
	if err := r.APIReader.List(ctx, existing, client.InNamespace(vmim.Namespace), client.MatchingLabels{v1.MigrationJobLabel: string(vmim.UID)}); err != nil {
		return ctrl.Result{}, err
	}
	if len(existing.Items) > 0 {
		setPhase(vmim, v1.MigrationScheduling)
		return ctrl.Result{}, nil
	}
	r.capacity.Lock()
	defer r.capacity.Unlock()
	if room, err := r.haveRoom(ctx, vmim, vmi); err != nil || !room {
		return ctrl.Result{RequeueAfter: capacityRetry}, err
	}
	claims, err := r.claims(ctx, vmi)
	if err != nil {
		return ctrl.Result{}, err
	}
	pod, err := RenderTargetPod(vmim, vmi, source, r.Config(ctx), claims)
	if err != nil {
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, reasonFailedCreate, "Error rendering the migration target pod: %v", err)
		r.fail(vmim, vmi, fmt.Sprintf("Migration failed: the target pod cannot be rendered: %v", err))
		return ctrl.Result{}, nil
	}
	if err := r.Create(ctx, pod); err != nil {
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, reasonFailedCreate, "Error creating the migration target pod: %v", err)
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(vmim, k8sv1.EventTypeNormal, reasonSuccessfulCreate, "Created migration target pod %s/%s with uuid %s for migration %s", pod.Namespace, pod.Name, pod.UID, vmim.UID)
	setPhase(vmim, v1.MigrationScheduling)
	return ctrl.Result{}, nil
}

// haveRoom: fewer migrations with a target pod than the cluster allows, and fewer
// leaving the VMI's node than a node allows. It reads the API server, not the cache, and
// capacity serializes the decisions with the target pods' creation: a migration whose
// pod was just made may not show its new phase in the cache, and two workers must not
// both take the last place. Waiting migrations are not ordered: the first to look takes
// the room (KubeVirt orders them by priority).
func (r *Reconciler) haveRoom(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance) (bool, error) {
	list := &v1.VirtualMachineInstanceMigrationList{}
	if err := r.APIReader.List(ctx, list); err != nil {
		return false, err
	}
	pods := &k8sv1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.HasLabels{v1.MigrationJobLabel}); err != nil {
		return false, err
	}
	withPod := map[types.UID]bool{}
	for _, p := range pods.Items {
		withPod[types.UID(p.Labels[v1.MigrationJobLabel])] = true
	}
	running, outbound := 0, 0
	for i := range list.Items {
		m := &list.Items[i]
		if m.UID == vmim.UID || m.Status.Phase.IsFinal() || !(targetCreated(m.Status.Phase) || withPod[m.UID]) {
			continue
		}
		running++
		if r.vmiNode(ctx, m) == vmi.Status.NodeName {
			outbound++
		}
	}
	perCluster, outboundPerNode := clusterconfig.Config{}.MigrationLimits()
	if r.Limits != nil {
		perCluster, outboundPerNode = r.Limits(ctx)
	}
	if running >= perCluster || outbound >= outboundPerNode {
		log.FromContext(ctx).V(1).Info("waiting for room", "running", running, "outboundFromNode", outbound,
			"parallelMigrationsPerCluster", perCluster, "parallelOutboundMigrationsPerNode", outboundPerNode)
		return false, nil
	}
	return true, nil
}

// vmiNode is the node a migration's VMI runs on ("" when unknown).
func (r *Reconciler) vmiNode(ctx context.Context, m *v1.VirtualMachineInstanceMigration) string {
	vmi := &v1.VirtualMachineInstance{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: m.Namespace, Name: m.Spec.VMIName}, vmi); err != nil {
		return ""
	}
	return vmi.Status.NodeName
}

// waitForTarget follows a target pod until it runs, giving it up when the scheduler
// cannot place it or it stays pending too long.
func (r *Reconciler) waitForTarget(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance, target *k8sv1.Pod) (ctrl.Result, error) {
	if target.DeletionTimestamp != nil || target.Status.Phase != k8sv1.PodPending {
		return ctrl.Result{}, nil
	}
	age := r.Now().Sub(target.CreationTimestamp.Time)
	timeout, why := pendingTimeout, "pending"
	if unschedulable(target) {
		timeout, why = unschedulableTimeout, "unschedulable"
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, reasonTargetPodUnschedulable, "Migration target pod for VMI [%s/%s] is currently unschedulable.", vmi.Namespace, vmi.Name)
	}
	if age < timeout {
		return ctrl.Result{RequeueAfter: timeout - age}, nil
	}
	// Its deletion fails the migration on the next pass.
	if err := r.Delete(ctx, target); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(vmim, k8sv1.EventTypeNormal, reasonSuccessfulDelete, "Deleted %s pod %s/%s: timeout period of %s exceeded", why, target.Namespace, target.Name, timeout)
	return ctrl.Result{}, nil
}

// handOff names the migration in the VMI's status and labels the VMI with the target's
// node, where virt-handler then prepares the target. The status patch carries the VMI's
// resourceVersion, so what a handler wrote meanwhile is never overwritten.
func (r *Reconciler) handOff(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance, target *k8sv1.Pod) error {
	source, err := r.sourcePod(ctx, vmi)
	if err != nil {
		return err
	}
	config, policy, err := r.migrationConfiguration(ctx, vmi)
	if err != nil {
		return fmt.Errorf("choosing the migration's settings: %w", err)
	}
	base := vmi.DeepCopy()
	vmi.Status.MigrationState = &v1.VirtualMachineInstanceMigrationState{
		MigrationUID:           vmim.UID,
		SourceNode:             vmi.Status.NodeName,
		TargetNode:             target.Spec.NodeName,
		TargetPod:              target.Name,
		MigrationConfiguration: config,
	}
	if policy != "" {
		vmi.Status.MigrationState.MigrationPolicyName = ptr.To(policy)
	}
	if source != nil {
		vmi.Status.MigrationState.SourcePod = source.Name
	}
	if err := r.Status().Patch(ctx, vmi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		r.Recorder.Eventf(vmim, k8sv1.EventTypeWarning, reasonFailedHandOver, "Failed to set the VMI's migration state: %v", err)
		return err
	}
	labelled := vmi.DeepCopy()
	if labelled.Labels == nil {
		labelled.Labels = map[string]string{}
	}
	labelled.Labels[v1.MigrationTargetNodeNameLabel] = target.Spec.NodeName
	if err := r.Patch(ctx, labelled, client.MergeFrom(vmi)); err != nil {
		r.Recorder.Eventf(vmim, k8sv1.EventTypeWarning, reasonFailedHandOver, "Failed to label the VMI with the target node: %v", err)
		return err
	}
	*vmi = *labelled
	r.Recorder.Event(vmim, k8sv1.EventTypeNormal, reasonSuccessfulHandOver, "Migration target pod is ready for preparation by virt-handler.")
	return nil
}

// endBeforeStart marks, in the VMI's status, a handed-off migration that failed before
// the guest began to move (its target pod is gone or down) as ended, so the source
// handler does not start it and the VMI can migrate again (KubeVirt's "Target pod is
// down"). Once started, the source handler ends it from what libvirt reports.
func (r *Reconciler) endBeforeStart(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance) error {
	ms := vmi.Status.MigrationState
	if !handedOff(vmim, vmi) || ms.StartTimestamp != nil || ms.Completed || vmi.Status.Phase.IsFinal() || vmi.DeletionTimestamp != nil {
		return nil
	}
	base := vmi.DeepCopy()
	now := metav1.NewTime(r.Now())
	ms.Failed, ms.Completed, ms.EndTimestamp, ms.FailureReason = true, true, &now, "Target pod is down"
	return client.IgnoreNotFound(r.Status().Patch(ctx, vmi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// reconcileCancel ends a migration deleted before its end. Before the hand-off nothing
// runs yet: the target pod goes and the migration fails. After it, the source handler
// aborts the libvirt migration when the VMI's status asks; the migration ends as the
// handlers report (the guest may have moved already).
func (r *Reconciler) reconcileCancel(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance, target *k8sv1.Pod) (ctrl.Result, error) {
	if !handedOff(vmim, vmi) {
		setCondition(vmim, v1.VirtualMachineInstanceMigrationAbortRequested, "", "")
		r.fail(vmim, vmi, "Migration failed due to being canceled")
		return ctrl.Result{}, r.deleteTarget(ctx, vmim, vmi, target)
	}
	ms := vmi.Status.MigrationState
	switch {
	case ms.Completed && !ms.Failed:
		setPhase(vmim, v1.MigrationSucceeded)
		vmim.Status.MigrationState = ms.DeepCopy()
		return ctrl.Result{}, nil
	case ms.Failed:
		r.fail(vmim, vmi, "source node reported migration failed")
		return ctrl.Result{}, r.deleteTarget(ctx, vmim, vmi, target)
	case ms.AbortRequested:
		return ctrl.Result{}, nil
	}
	base := vmi.DeepCopy()
	vmi.Status.MigrationState.AbortRequested = true
	if err := r.Status().Patch(ctx, vmi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, err
	}
	setCondition(vmim, v1.VirtualMachineInstanceMigrationAbortRequested, "", "")
	r.Recorder.Event(vmim, k8sv1.EventTypeNormal, reasonSuccessfulAbort, "Migration is ready to be canceled by virt-handler.")
	return ctrl.Result{}, nil
}

// deleteTarget removes a failed migration's target pod, unless the guest runs in it (a
// VMI whose node is the target's: the migration completed after all).
func (r *Reconciler) deleteTarget(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance, target *k8sv1.Pod) error {
	if target == nil || target.DeletionTimestamp != nil || (target.Spec.NodeName != "" && target.Spec.NodeName == vmi.Status.NodeName) {
		return nil
	}
	if err := r.Delete(ctx, target); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting the migration target pod %s: %w", target.Name, err)
	}
	r.Recorder.Eventf(vmim, k8sv1.EventTypeNormal, reasonSuccessfulDelete, "Deleted migration target pod %s", target.Name)
	return nil
}

// reconcileFinal releases a final migration and keeps the newest final ones of its VMI.
func (r *Reconciler) reconcileFinal(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration) (ctrl.Result, error) {
	if controllerutil.ContainsFinalizer(vmim, v1.MigrationFinalizer) {
		// The status goes first: once the finalizer is off, a deleted migration may vanish.
		if err := r.patchStatus(ctx, nil, vmim); err != nil {
			return ctrl.Result{}, err
		}
		patch := client.MergeFrom(vmim.DeepCopy())
		controllerutil.RemoveFinalizer(vmim, v1.MigrationFinalizer)
		if err := r.Patch(ctx, vmim, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	if vmim.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.collectGarbage(ctx, vmim)
}

// collectGarbage deletes all but the newest finalKept final migrations of vmim's VMI.
func (r *Reconciler) collectGarbage(ctx context.Context, vmim *v1.VirtualMachineInstanceMigration) error {
	list := &v1.VirtualMachineInstanceMigrationList{}
	if err := r.List(ctx, list, client.InNamespace(vmim.Namespace), client.MatchingLabels{v1.MigrationSelectorLabel: vmim.Spec.VMIName}); err != nil {
		return err
	}
	var final []v1.VirtualMachineInstanceMigration
	for _, m := range list.Items {
		if m.Status.Phase.IsFinal() && m.DeletionTimestamp == nil {
			final = append(final, m)
		}
	}
	if len(final) <= finalKept {
		return nil
	}
	slices.SortFunc(final, func(a, b v1.VirtualMachineInstanceMigration) int {
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		return compareStrings(b.Name, a.Name)
	})
	for i := range final[finalKept:] {
		m := &final[finalKept+i]
		if err := r.Delete(ctx, m); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting the old migration %s: %w", m.Name, err)
		}
	}
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fail ends the migration with KubeVirt's FailedMigration event, on about (the
// migration or its VMI, as KubeVirt reports each case).
func (r *Reconciler) fail(vmim *v1.VirtualMachineInstanceMigration, about client.Object, message string) {
	if vmim.Status.Phase.IsFinal() {
		return
	}
	setPhase(vmim, v1.MigrationFailed)
	r.Recorder.Event(about, k8sv1.EventTypeWarning, reasonFailedMigration, message)
}

// targetPod is the migration's target pod, if it exists: the VMI's launcher pod
// labelled with the migration's UID.
func (r *Reconciler) targetPod(ctx context.Context, reader client.Reader, vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance) (*k8sv1.Pod, error) {
	list := &k8sv1.PodList{}
	if err := reader.List(ctx, list, client.InNamespace(vmim.Namespace), client.MatchingLabels{v1.MigrationJobLabel: string(vmim.UID), v1.CreatedByLabel: string(vmi.UID)}); err != nil {
		return nil, err
	}
	var newest *k8sv1.Pod
	for i := range list.Items {
		if p := &list.Items[i]; newest == nil || p.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = p
		}
	}
	return newest, nil
}

// sourcePod is the live launcher pod on the VMI's node: the one its guest runs in.
func (r *Reconciler) sourcePod(ctx context.Context, vmi *v1.VirtualMachineInstance) (*k8sv1.Pod, error) {
	list := &k8sv1.PodList{}
	if err := r.List(ctx, list, client.InNamespace(vmi.Namespace), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)}); err != nil {
		return nil, err
	}
	for i := range list.Items {
		p := &list.Items[i]
		if p.Spec.NodeName == vmi.Status.NodeName && p.DeletionTimestamp == nil &&
			p.Status.Phase != k8sv1.PodSucceeded && p.Status.Phase != k8sv1.PodFailed {
			return p, nil
		}
	}
	return nil, nil
}

// claims are the PersistentVolumeClaims the VMI's volumes name, by name.
func (r *Reconciler) claims(ctx context.Context, vmi *v1.VirtualMachineInstance) (map[string]*k8sv1.PersistentVolumeClaim, error) {
	claims := map[string]*k8sv1.PersistentVolumeClaim{}
	for _, vol := range vmi.Spec.Volumes {
		if vol.PersistentVolumeClaim == nil {
			continue
		}
		claim := &k8sv1.PersistentVolumeClaim{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: vmi.Namespace, Name: vol.PersistentVolumeClaim.ClaimName}, claim); err != nil {
			return nil, fmt.Errorf("reading the PersistentVolumeClaim %s of volume %q: %w", vol.PersistentVolumeClaim.ClaimName, vol.Name, err)
		}
		claims[claim.Name] = claim
	}
	return claims, nil
}

// patchStatus writes the migration's status when it differs from original's (nil:
// always).
func (r *Reconciler) patchStatus(ctx context.Context, original, vmim *v1.VirtualMachineInstanceMigration) error {
	if original != nil && equality.Semantic.DeepEqual(original.Status, vmim.Status) {
		return nil
	}
	base := vmim.DeepCopy()
	if original != nil {
		base.Status = original.Status
	} else {
		base.Status = v1.VirtualMachineInstanceMigrationStatus{}
	}
	err := r.Status().Patch(ctx, vmim, client.MergeFrom(base))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// setPhase moves the migration to phase, recording when (once per phase, as KubeVirt).
func setPhase(vmim *v1.VirtualMachineInstanceMigration, phase v1.VirtualMachineInstanceMigrationPhase) {
	if vmim.Status.Phase == phase {
		return
	}
	vmim.Status.Phase = phase
	for _, t := range vmim.Status.PhaseTransitionTimestamps {
		if t.Phase == phase {
			return
		}
	}
	vmim.Status.PhaseTransitionTimestamps = append(vmim.Status.PhaseTransitionTimestamps,
		v1.VirtualMachineInstanceMigrationPhaseTransitionTimestamp{Phase: phase, PhaseTransitionTimestamp: metav1.Now()})
}

// setCondition sets a True condition of type t.
func setCondition(vmim *v1.VirtualMachineInstanceMigration, t v1.VirtualMachineInstanceMigrationConditionType, reason, message string) {
	for i := range vmim.Status.Conditions {
		if c := &vmim.Status.Conditions[i]; c.Type == t {
			c.Status, c.Reason, c.Message = metav1.ConditionTrue, reason, message
			return
		}
	}
	now := metav1.Now()
	vmim.Status.Conditions = append(vmim.Status.Conditions, v1.VirtualMachineInstanceMigrationCondition{
		Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: message, LastProbeTime: now, LastTransitionTime: now,
	})
}

// podReady: the target runs its launcher and is not going away.
func podReady(pod *k8sv1.Pod) bool {
	return services.LauncherRunning(pod) && pod.DeletionTimestamp == nil
}

// unschedulable: the scheduler said it cannot place the pod.
func unschedulable(pod *k8sv1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == k8sv1.PodScheduled && c.Status == k8sv1.ConditionFalse && c.Reason == k8sv1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}
