// Package evacuation is virt-controller's evacuation controller. When kubectl drain (or
// any client of the eviction API) evicts a virt-launcher pod whose VMI is to live-migrate
// (evictionStrategy LiveMigrate, or LiveMigrateIfPossible on a live-migratable VMI),
// virt-api refuses the eviction and marks the VMI with status.evacuationNodeName; this
// controller then migrates the VMI off that node with a VirtualMachineInstanceMigration,
// as KubeVirt's evacuation controller does. Once the guest left, its pod has ended and
// the drain's next eviction of it goes through. A VMI whose strategy is External is left
// to the outside controller that asked for it (Cluster API's provider).
package evacuation

import (
	"context"
	"fmt"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/metrics"
)

// EvacuationMigrationAnnotation on a migration names the node it evacuates (KubeVirt's).
const EvacuationMigrationAnnotation = "kubevirt.io/evacuationMigration"

// retryAfterFailure: an evacuation whose migration failed is tried again after this long
// (KubeVirt's migration backoff starts at 20 s), so a target that cannot take the guest
// is not hammered while the drain waits.
const retryAfterFailure = 20 * time.Second

// ReasonSuccessfulCreate is the VMI's event when an evacuation migration is created.
const ReasonSuccessfulCreate = "SuccessfulCreate"

// Reconciler migrates VMIs marked for evacuation.
type Reconciler struct {
	client.Client
	Recorder record.EventRecorder
	// Config is the cluster configuration: its evictionStrategy applies to VMIs that set
	// none.
	Config func(context.Context) clusterconfig.Config
	// Now is the clock (tests move it).
	Now func() time.Time
}

// SetupWithManager registers the controller: VMIs, and their migrations (a failed
// evacuation is retried).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("evacuation").
		For(&v1.VirtualMachineInstance{}).
		Watches(&v1.VirtualMachineInstanceMigration{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			m := o.(*v1.VirtualMachineInstanceMigration)
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Spec.VMIName}}}
		})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, NewQueue: metrics.Queue[reconcile.Request]("virt-controller-evacuation")}).
		Complete(r)
}

// Reconcile creates the migration that evacuates one VMI, when it needs one.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	vmi := &v1.VirtualMachineInstance{}
	if err := r.Get(ctx, req.NamespacedName, vmi); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	node := vmi.Status.EvacuationNodeName
	if node == "" || vmi.Status.NodeName != node || vmi.Status.Phase != v1.Running || vmi.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	if !r.migrates(ctx, vmi) {
		return ctrl.Result{}, nil
	}
	if ms := vmi.Status.MigrationState; ms != nil && ms.Completed && !ms.Failed && ms.SourceNode == node {
		// The guest left the node already: the migration succeeded, and the target
		// node's handler is about to take the VMI over (and clear the mark). Another
		// migration now would move the guest once more.
		return ctrl.Result{}, nil
	}

	migrations := &v1.VirtualMachineInstanceMigrationList{}
	if err := r.List(ctx, migrations, client.InNamespace(vmi.Namespace), client.MatchingLabels{v1.MigrationSelectorLabel: vmi.Name}); err != nil {
		return ctrl.Result{}, err
	}
	for _, m := range migrations.Items {
		if !m.Status.Phase.IsFinal() {
			return ctrl.Result{}, nil // one in flight; its end wakes us
		}
		if m.Status.Phase == v1.MigrationFailed && m.Annotations[EvacuationMigrationAnnotation] != "" {
			if wait := endedAt(&m).Add(retryAfterFailure).Sub(r.Now()); wait > 0 {
				return ctrl.Result{RequeueAfter: wait}, nil
			}
		}
	}

	m := &v1.VirtualMachineInstanceMigration{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "kubevirt-evacuation-",
			Namespace:    vmi.Namespace,
			Annotations:  map[string]string{EvacuationMigrationAnnotation: node},
			Labels:       map[string]string{v1.MigrationSelectorLabel: vmi.Name},
		},
		Spec: v1.VirtualMachineInstanceMigrationSpec{VMIName: vmi.Name},
	}
	if err := r.Create(ctx, m); err != nil {
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, v1.FailedCreateReason, "Error creating a Migration for evacuation: %v", err)
		return ctrl.Result{}, fmt.Errorf("creating the evacuation migration of VMI %s: %w", req.NamespacedName, err)
	}
	r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, ReasonSuccessfulCreate, "Created Migration %s for evacuation", m.Name)
	return ctrl.Result{}, nil
}

// migrates: the VMI's eviction strategy (its own, else the cluster's) moves it by live
// migration, and it can move.
func (r *Reconciler) migrates(ctx context.Context, vmi *v1.VirtualMachineInstance) bool {
	strategy := vmi.Spec.EvictionStrategy
	if strategy == nil {
		strategy = r.Config(ctx).EvictionStrategy
	}
	if strategy == nil || (*strategy != v1.EvictionStrategyLiveMigrate && *strategy != v1.EvictionStrategyLiveMigrateIfPossible) {
		return false
	}
	c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceIsMigratable)
	return c != nil && c.Status == k8sv1.ConditionTrue
}

// endedAt is when a final migration reached its last phase.
func endedAt(m *v1.VirtualMachineInstanceMigration) time.Time {
	var t time.Time
	for _, p := range m.Status.PhaseTransitionTimestamps {
		if p.PhaseTransitionTimestamp.After(t) {
			t = p.PhaseTransitionTimestamp.Time
		}
	}
	return t
}
