// Package kubevirt is virt-operator's controller: it turns the KubeVirt object into a
// running Hypernest installation (CRDs, RBAC, certificates, webhooks, the subresource
// API, virt-api, virt-controller and virt-handler), keeps it in shape, upgrades it when
// the image tag changes, and removes it when the object is deleted.
package kubevirt

import (
	"context"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
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
	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/manifests/crds"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/metrics"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// Requeue intervals: while components roll out the operator looks every few seconds;
// once deployed, a periodic pass renews certificates (they are renewed with a third of
// their 30-day life left, so an hour is plenty); watches cover every installed kind.
const (
	progressRequeue = 3 * time.Second
	deployedRequeue = time.Hour
	blockedRequeue  = 10 * time.Second
)

// KubeVirt's default: workloads are never removed by surprise.
const defaultUninstallStrategy = v1.KubeVirtUninstallStrategyBlockUninstallIfWorkloadsExist

// Reconciler installs Hypernest from KubeVirt objects in Namespace.
type Reconciler struct {
	client.Client
	Recorder record.EventRecorder
	// Namespace is virt-operator's own; the KubeVirt object must be there.
	Namespace string
	// DefaultRegistry and DefaultTag are the components' images when the KubeVirt object
	// names none: the operator's own.
	DefaultRegistry, DefaultTag string
}

// SetupWithManager watches KubeVirt objects and every object the operator made, so a
// deleted or edited component is put back.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	managed := builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[v1.ManagedByLabel] == v1.ManagedByLabelOperatorValue
	}))
	toKubeVirt := handler.EnqueueRequestsFromMapFunc(r.kubeVirtsOf)
	b := ctrl.NewControllerManagedBy(mgr).Named("kubevirt").For(&v1.KubeVirt{})
	for _, obj := range ManagedTypes() {
		b = b.Watches(obj, toKubeVirt, managed)
	}
	return b.WithOptions(controller.Options{NewQueue: metrics.Queue[reconcile.Request]("virt-operator")}).Complete(r)
}

// ManagedTypes are the kinds of installed objects the operator watches for drift: every
// kind it installs, so a deleted or edited one is put back at once, not on the hourly
// pass. The APIService is watched by its metadata only (no typed client for it here).
func ManagedTypes() []client.Object {
	apiService := &metav1.PartialObjectMetadata{}
	apiService.SetGroupVersionKind(install.APIServiceGVK)
	return []client.Object{
		&appsv1.Deployment{}, &appsv1.DaemonSet{}, &k8sv1.Service{}, &k8sv1.Secret{}, &k8sv1.ServiceAccount{},
		&rbacv1.ClusterRole{}, &rbacv1.ClusterRoleBinding{}, &rbacv1.Role{}, &rbacv1.RoleBinding{},
		&admissionregistrationv1.MutatingWebhookConfiguration{}, &admissionregistrationv1.ValidatingWebhookConfiguration{},
		&apiextensionsv1.CustomResourceDefinition{}, apiService,
	}
}

func (r *Reconciler) kubeVirtsOf(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &v1.KubeVirtList{}
	if err := r.List(ctx, list, client.InNamespace(r.Namespace)); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, kv := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&kv)})
	}
	return out
}

// Reconcile brings the installation in line with one KubeVirt object; its status is
// written once, at the end.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	kv := &v1.KubeVirt{}
	if err := r.Get(ctx, req.NamespacedName, kv); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	original := kv.DeepCopy()
	defer func() {
		kv.Status.ObservedGeneration = &kv.Generation
		if equality.Semantic.DeepEqual(original.Status, kv.Status) {
			return
		}
		if err := r.Status().Patch(ctx, kv, client.MergeFrom(original)); err != nil && !apierrors.IsNotFound(err) && retErr == nil {
			retErr = err
		}
	}()

	if kv.Namespace != r.Namespace {
		msg := fmt.Sprintf("the KubeVirt object must be in namespace %s, where virt-operator runs; delete this one and create it there", r.Namespace)
		setCondition(kv, v1.KubeVirtConditionDegraded, k8sv1.ConditionTrue, reasonWrongNamespace, msg)
		return ctrl.Result{}, nil
	}
	cfg := r.config(ctx, kv)
	emulationEnabled.Set(metrics.BoolValue(clusterconfig.FromKubeVirt(kv).UseEmulation))
	if kv.DeletionTimestamp != nil {
		return r.reconcileDelete(ctx, kv, cfg)
	}
	if !controllerutil.ContainsFinalizer(kv, v1.VirtOperatorComponentFinalizer) {
		patch := client.MergeFrom(kv.DeepCopy())
		controllerutil.AddFinalizer(kv, v1.VirtOperatorComponentFinalizer)
		if err := r.Patch(ctx, kv, patch); err != nil {
			return ctrl.Result{}, err
		}
		original.ObjectMeta = kv.ObjectMeta
	}
	return r.reconcileInstall(ctx, kv, cfg)
}

// singleNode: on a one-node cluster a second virt-api or virt-controller replica adds
// memory and no availability.
func (r *Reconciler) singleNode(ctx context.Context) bool {
	nodes := &metav1.PartialObjectMetadataList{}
	nodes.SetGroupVersionKind(k8sv1.SchemeGroupVersion.WithKind("NodeList"))
	if err := r.List(ctx, nodes); err != nil {
		return false
	}
	return len(nodes.Items) <= 1
}

// config is the installation the KubeVirt object asks for.
func (r *Reconciler) config(ctx context.Context, kv *v1.KubeVirt) install.Config {
	cfg := install.Config{
		Namespace:       kv.Namespace,
		ImageRegistry:   r.DefaultRegistry,
		ImageTag:        r.DefaultTag,
		ImagePullPolicy: kv.Spec.ImagePullPolicy,
		SingleReplica:   r.singleNode(ctx),
	}
	if kv.Spec.ImageRegistry != "" {
		cfg.ImageRegistry = kv.Spec.ImageRegistry
	}
	if kv.Spec.ImageTag != "" {
		cfg.ImageTag = kv.Spec.ImageTag
	}
	if cfg.ImagePullPolicy == "" {
		cfg.ImagePullPolicy = k8sv1.PullIfNotPresent
	}
	// cfg.UseEmulation stays false: the components read spec.configuration from this
	// object themselves (clusterconfig), so changing it restarts nothing.
	return cfg
}

func (r *Reconciler) reconcileInstall(ctx context.Context, kv *v1.KubeVirt, cfg install.Config) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	setTarget(kv, cfg, r.DefaultTag)

	crdList, err := crds.All()
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := install.ApplyCRDs(ctx, r.Client, crdList); err != nil {
		return r.applyFailed(kv, err)
	}
	pki, err := install.EnsurePKI(ctx, r.Client, cfg, time.Now())
	if err != nil {
		return r.applyFailed(kv, err)
	}
	// Upgrades go in KubeVirt's order: virt-api and virt-controller first; virt-handler
	// only once both run the new version, so no old controller drives new handlers.
	// Running guests are untouched: their launcher pods are not the operator's.
	first, handlerObjs := install.SplitHandler(install.Objects(cfg, pki))
	for _, obj := range first {
		if err := install.CreateOrUpdate(ctx, r.Client, obj); err != nil {
			return r.applyFailed(kv, err)
		}
	}
	notReady := r.notRolledOut(ctx, cfg, wiring.APIName, install.ControllerName)
	if notReady == "" {
		for _, obj := range handlerObjs {
			if err := install.CreateOrUpdate(ctx, r.Client, obj); err != nil {
				return r.applyFailed(kv, err)
			}
		}
		// Every object of the target exists now (virt-handler's last).
		conditionCreated(kv)
		notReady = r.notRolledOut(ctx, cfg, wiring.HandlerName)
	}
	if notReady == "" {
		notReady = r.apiServiceNotAvailable(ctx, cfg)
	}
	if notReady == "" {
		// Only once the new virt-handlers run: the old ones served with this key.
		if err := install.DeleteObsolete(ctx, r.Client, cfg); err != nil {
			return r.applyFailed(kv, err)
		}
	}

	if notReady != "" {
		conditionsInProgress(kv, notReady)
		logger.V(1).Info("waiting", "for", notReady)
		return ctrl.Result{RequeueAfter: progressRequeue}, nil
	}
	if kv.Status.Phase != v1.KubeVirtPhaseDeployed || kv.Status.ObservedDeploymentID != kv.Status.TargetDeploymentID {
		r.Recorder.Eventf(kv, k8sv1.EventTypeNormal, "Deployed", "Hypernest %s is deployed", cfg.ImageTag)
	}
	kv.Status.Phase = v1.KubeVirtPhaseDeployed
	setObserved(kv)
	conditionsAvailable(kv)
	return ctrl.Result{RequeueAfter: deployedRequeue}, nil
}

func (r *Reconciler) applyFailed(kv *v1.KubeVirt, err error) (ctrl.Result, error) {
	conditionsFailed(kv, err)
	r.Recorder.Eventf(kv, k8sv1.EventTypeWarning, reasonDeploymentFailed, "%v", err)
	return ctrl.Result{}, err
}

// notRolledOut names the first component whose current spec is not yet running and
// ready everywhere, or returns "".
func (r *Reconciler) notRolledOut(ctx context.Context, cfg install.Config, names ...string) string {
	for _, name := range names {
		key := client.ObjectKey{Namespace: cfg.Namespace, Name: name}
		if name == wiring.HandlerName {
			ds := &appsv1.DaemonSet{}
			if err := r.Get(ctx, key, ds); err != nil {
				return name + ": " + err.Error()
			}
			s := ds.Status
			if s.ObservedGeneration < ds.Generation || s.UpdatedNumberScheduled < s.DesiredNumberScheduled || s.NumberAvailable < s.DesiredNumberScheduled || s.DesiredNumberScheduled == 0 {
				return fmt.Sprintf("%s: %d of %d pods updated and available", name, min(s.UpdatedNumberScheduled, s.NumberAvailable), s.DesiredNumberScheduled)
			}
			continue
		}
		d := &appsv1.Deployment{}
		if err := r.Get(ctx, key, d); err != nil {
			return name + ": " + err.Error()
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		if s.ObservedGeneration < d.Generation || s.UpdatedReplicas < want || s.AvailableReplicas < want || s.Replicas > want {
			return fmt.Sprintf("%s: %d of %d replicas updated and available", name, min(s.UpdatedReplicas, s.AvailableReplicas), want)
		}
	}
	return ""
}

func (r *Reconciler) apiServiceNotAvailable(ctx context.Context, cfg install.Config) string {
	svc := install.APIServiceObject(cfg, nil)
	if err := r.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
		return "the subresources.kubevirt.io APIService: " + err.Error()
	}
	if !install.APIServiceAvailable(svc) {
		return "the subresources.kubevirt.io APIService is not available yet"
	}
	return ""
}

// reconcileDelete uninstalls: workloads first (or refuse while they exist), then every
// object the operator made, then the finalizer.
func (r *Reconciler) reconcileDelete(ctx context.Context, kv *v1.KubeVirt, cfg install.Config) (ctrl.Result, error) {
	kv.Status.Phase = v1.KubeVirtPhaseDeleting
	conditionsDeleting(kv)
	if !controllerutil.ContainsFinalizer(kv, v1.VirtOperatorComponentFinalizer) {
		return ctrl.Result{}, nil
	}
	vmis := &v1.VirtualMachineInstanceList{}
	if err := r.List(ctx, vmis); err != nil && !isNoMatch(err) {
		return ctrl.Result{}, err
	}
	if n := len(vmis.Items); n > 0 {
		strategy := kv.Spec.UninstallStrategy
		if strategy == "" {
			strategy = defaultUninstallStrategy
		}
		if strategy != v1.KubeVirtUninstallStrategyRemoveWorkloads {
			msg := fmt.Sprintf("%d VMIs still exist (e.g. %s/%s): delete them, or set spec.uninstallStrategy: RemoveWorkloads to have them deleted", n, vmis.Items[0].Namespace, vmis.Items[0].Name)
			setCondition(kv, v1.KubeVirtConditionDegraded, k8sv1.ConditionTrue, reasonUninstallBlocked, msg)
			r.Recorder.Event(kv, k8sv1.EventTypeWarning, reasonUninstallBlocked, msg)
			return ctrl.Result{RequeueAfter: blockedRequeue}, nil
		}
		setCondition(kv, v1.KubeVirtConditionDegraded, k8sv1.ConditionTrue, reasonDeleting, fmt.Sprintf("Deletion was triggered; deleting %d VMIs and their VMs (spec.uninstallStrategy: RemoveWorkloads)", n))
		if err := r.removeWorkloads(ctx, vmis); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: progressRequeue}, nil
	}

	crdList, err := crds.All()
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := install.Delete(ctx, r.Client, cfg, crdList); err != nil {
		setCondition(kv, v1.KubeVirtConditionSynchronized, k8sv1.ConditionFalse, reasonDeletionFailed, fmt.Sprintf("An error occurred during deletion: %v", err))
		return ctrl.Result{}, err
	}
	r.Recorder.Event(kv, k8sv1.EventTypeNormal, "Deleted", "Hypernest's components are deleted")
	kv.Status.Phase = v1.KubeVirtPhaseDeleted
	if err := r.Status().Patch(ctx, kv, client.MergeFrom(&v1.KubeVirt{ObjectMeta: kv.ObjectMeta})); err != nil && !apierrors.IsNotFound(err) {
		log.FromContext(ctx).V(1).Info("could not record the Deleted phase", "error", err.Error())
	}
	patch := client.MergeFrom(kv.DeepCopy())
	controllerutil.RemoveFinalizer(kv, v1.VirtOperatorComponentFinalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, kv, patch))
}

// removeWorkloads deletes the VMs (so they do not start new VMIs), then the VMIs.
func (r *Reconciler) removeWorkloads(ctx context.Context, vmis *v1.VirtualMachineInstanceList) error {
	vms := &v1.VirtualMachineList{}
	if err := r.List(ctx, vms); err != nil {
		return err
	}
	for i := range vms.Items {
		if err := r.Delete(ctx, &vms.Items[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	for i := range vmis.Items {
		if err := r.Delete(ctx, &vmis.Items[i]); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// isNoMatch: the VMI CRD is gone already, so no VMI exists.
func isNoMatch(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsNotFound(err)
}
