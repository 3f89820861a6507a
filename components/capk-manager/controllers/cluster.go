// Package controllers holds the provider's reconcilers, in Cluster API's shape: fetch,
// pause check, patch helper with one deferred patch, finalizer, ordered phases, and
// conditions with reasons.
package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/cluster-api/util/patch"
	"sigs.k8s.io/cluster-api/util/paused"
	"sigs.k8s.io/cluster-api/util/predicates"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	"github.com/hypernest/hypernest/components/capk-manager/bootstrap"
	"github.com/hypernest/hypernest/components/capk-manager/infracluster"
	"github.com/hypernest/hypernest/components/capk-manager/vm"
)

// APIServerPort is the port of the nested cluster's API server, on the control-plane
// VMs and on the Service fronting them (kubeadm's default, and CAPK's).
const APIServerPort = 6443

// waitRequeue is how often a reconciler looks again at something that sends it no event
// (a LoadBalancer's address, an external infrastructure cluster, a machine's deletion).
const waitRequeue = 10 * time.Second

// ClusterReconciler reconciles KubevirtClusters: the control-plane Service of each
// cluster and the endpoint it gives.
type ClusterReconciler struct {
	Client   client.Client
	Infra    *infracluster.Clients
	Recorder record.EventRecorder
}

// Reconcile brings one KubevirtCluster to its desired state.
func (r *ClusterReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	log := ctrl.LoggerFrom(ctx)
	kc := &infrav1.KubevirtCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, kc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	cluster, err := util.GetOwnerCluster(ctx, r.Client, kc.ObjectMeta)
	if err != nil {
		return ctrl.Result{}, err
	}
	if cluster == nil {
		log.Info("waiting for the Cluster controller to set an owner reference on the KubevirtCluster")
		return ctrl.Result{}, nil
	}
	log = log.WithValues("cluster", cluster.Name)
	ctx = ctrl.LoggerInto(ctx, log)
	if isPaused, requeue, err := paused.EnsurePausedCondition(ctx, r.Client, cluster, kc); err != nil || isPaused || requeue {
		return ctrl.Result{}, err
	}

	helper, err := patch.NewHelper(kc, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	defer func() {
		setClusterReady(kc)
		if err := helper.Patch(ctx, kc, patch.WithOwnedConditions{Conditions: []string{
			infrav1.ReadyCondition, infrav1.LoadBalancerAvailableCondition, clusterv1.PausedCondition,
		}}); err != nil && !apierrors.IsNotFound(err) {
			reterr = kerrors.NewAggregate([]error{reterr, err})
		}
	}()

	if !kc.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, cluster, kc)
	}
	// The finalizer first, so the Service is never made without it (patched on return).
	if controllerutil.AddFinalizer(kc, infrav1.ClusterFinalizer) {
		return ctrl.Result{}, nil
	}
	return r.reconcileNormal(ctx, cluster, kc)
}

func (r *ClusterReconciler) reconcileNormal(ctx context.Context, cluster *clusterv1.Cluster, kc *infrav1.KubevirtCluster) (ctrl.Result, error) {
	infra, infraNamespace, err := r.Infra.For(ctx, kc.Spec.InfraClusterSecretRef, kc.Namespace)
	if err != nil {
		loadBalancerFailed(kc, err)
		return ctrl.Result{}, err
	}
	svc, err := r.reconcileService(ctx, infra, cluster, kc, infraNamespace)
	if err != nil {
		loadBalancerFailed(kc, err)
		return ctrl.Result{}, err
	}
	if kc.Spec.ControlPlaneEndpoint.Host == "" {
		host, waiting := serviceAddress(svc)
		if host == "" {
			conditions.Set(kc, metav1.Condition{Type: infrav1.LoadBalancerAvailableCondition, Status: metav1.ConditionFalse,
				Reason: infrav1.LoadBalancerWaitingForAddressReason, Message: waiting})
			return ctrl.Result{RequeueAfter: waitRequeue}, nil
		}
		kc.Spec.ControlPlaneEndpoint = infrav1.APIEndpoint{Host: host, Port: APIServerPort}
		r.Recorder.Eventf(kc, corev1.EventTypeNormal, "EndpointSet", "The control-plane endpoint is %s:%d (Service %s/%s)", host, APIServerPort, svc.Namespace, svc.Name)
	}
	conditions.Set(kc, metav1.Condition{Type: infrav1.LoadBalancerAvailableCondition, Status: metav1.ConditionTrue,
		Reason: infrav1.LoadBalancerAvailableReason, Message: fmt.Sprintf("Service %s/%s", svc.Namespace, svc.Name)})

	if err := r.reconcileSSHKeys(ctx, kc); err != nil {
		return ctrl.Result{}, err
	}

	kc.Status.Ready = true
	if kc.Status.Initialization == nil {
		kc.Status.Initialization = &infrav1.KubevirtClusterInitializationStatus{}
	}
	kc.Status.Initialization.Provisioned = ptr.To(true)
	return ctrl.Result{}, nil
}

// ServiceName is the control-plane Service of a cluster, CAPK's name.
func ServiceName(clusterName string) string { return clusterName + "-lb" }

// reconcileService creates or updates the Service fronting the cluster's control-plane
// VMs on port 6443.
func (r *ClusterReconciler) reconcileService(ctx context.Context, infra client.Client, cluster *clusterv1.Cluster, kc *infrav1.KubevirtCluster, infraNamespace string) (*corev1.Service, error) {
	tmpl := kc.Spec.ControlPlaneServiceTemplate
	ns := tmpl.ObjectMeta.Namespace
	if ns == "" {
		ns = infraNamespace
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ServiceName(cluster.Name), Namespace: ns}}
	_, err := controllerutil.CreateOrUpdate(ctx, infra, svc, func() error {
		if svc.Labels == nil {
			svc.Labels = map[string]string{}
		}
		for k, v := range tmpl.ObjectMeta.Labels {
			svc.Labels[k] = v
		}
		svc.Labels[clusterv1.ClusterNameLabel] = cluster.Name
		if len(tmpl.ObjectMeta.Annotations) > 0 && svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		for k, v := range tmpl.ObjectMeta.Annotations {
			svc.Annotations[k] = v
		}
		svc.Spec.Type = tmpl.Spec.Type
		if svc.Spec.Type == "" {
			svc.Spec.Type = corev1.ServiceTypeClusterIP
		}
		svc.Spec.Selector = map[string]string{
			clusterv1.ClusterNameLabel: cluster.Name,
			vm.RoleLabel:               vm.ControlPlaneRole,
		}
		port := corev1.ServicePort{Name: "apiserver", Protocol: corev1.ProtocolTCP, Port: APIServerPort, TargetPort: intstr.FromInt32(APIServerPort)}
		if len(svc.Spec.Ports) == 1 {
			port.NodePort = svc.Spec.Ports[0].NodePort // keep what the API server allocated
		}
		svc.Spec.Ports = []corev1.ServicePort{port}
		// Garbage-collected with the KubevirtCluster when both live in one cluster and
		// namespace; otherwise the finalizer removes it.
		if infra == r.Client && ns == kc.Namespace {
			return controllerutil.SetOwnerReference(kc, svc, r.Client.Scheme())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating or updating the control-plane Service %s/%s: %w", ns, ServiceName(cluster.Name), err)
	}
	return svc, nil
}

// serviceAddress is the host a Service gives the nested cluster's API server: the
// LoadBalancer's ingress for that type, else the ClusterIP (as CAPK; a NodePort Service
// is reached through its ClusterIP from the infrastructure cluster too). When there is
// none yet, waiting says why.
func serviceAddress(svc *corev1.Service) (host, waiting string) {
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IP != "" {
				return in.IP, ""
			}
			if in.Hostname != "" {
				return in.Hostname, ""
			}
		}
		return "", fmt.Sprintf("the LoadBalancer Service %s/%s has no ingress address yet (is a load-balancer implementation installed?)", svc.Namespace, svc.Name)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return "", fmt.Sprintf("the Service %s/%s has no cluster IP yet", svc.Namespace, svc.Name)
	}
	return svc.Spec.ClusterIP, ""
}

// reconcileSSHKeys makes the cluster's SSH key pair once, in <KubevirtCluster>-ssh-keys,
// for the machines' ssh bootstrap check, as CAPK does; a Secret the user named in
// spec.sshKeys.dataSecretName is used as it is.
func (r *ClusterReconciler) reconcileSSHKeys(ctx context.Context, kc *infrav1.KubevirtCluster) error {
	if kc.Spec.SshKeys.DataSecretName != nil && *kc.Spec.SshKeys.DataSecretName != "" {
		return nil
	}
	name := kc.Name + bootstrap.SSHKeysSecretSuffix
	secret := &corev1.Secret{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: kc.Namespace, Name: name}, secret)
	if apierrors.IsNotFound(err) {
		public, private, err := bootstrap.NewSSHKeyPair()
		if err != nil {
			return err
		}
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: kc.Namespace, Labels: map[string]string{
				clusterv1.ClusterNameLabel: kc.Labels[clusterv1.ClusterNameLabel],
			}},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{bootstrap.SSHPublicKeyKey: public, bootstrap.SSHPrivateKeyKey: private},
		}
		if err := controllerutil.SetOwnerReference(kc, secret, r.Client.Scheme()); err != nil {
			return err
		}
		if err := r.Client.Create(ctx, secret); err != nil {
			return fmt.Errorf("creating the cluster's SSH key Secret %s/%s: %w", kc.Namespace, name, err)
		}
	} else if err != nil {
		return err
	}
	kc.Spec.SshKeys = infrav1.SSHKeys{
		ConfigRef:      &corev1.ObjectReference{APIVersion: "v1", Kind: "Secret", Namespace: kc.Namespace, Name: name, UID: secret.UID},
		DataSecretName: ptr.To(name),
	}
	return nil
}

// reconcileDelete waits for the cluster's machines to go (their VMs must go before the
// Service the control plane answers on), then removes the Service and the finalizer.
func (r *ClusterReconciler) reconcileDelete(ctx context.Context, cluster *clusterv1.Cluster, kc *infrav1.KubevirtCluster) (ctrl.Result, error) {
	conditions.Set(kc, metav1.Condition{Type: infrav1.LoadBalancerAvailableCondition, Status: metav1.ConditionFalse, Reason: clusterv1.DeletingReason})
	machines := &infrav1.KubevirtMachineList{}
	if err := r.Client.List(ctx, machines, client.InNamespace(kc.Namespace), client.MatchingLabels{clusterv1.ClusterNameLabel: cluster.Name}); err != nil {
		return ctrl.Result{}, err
	}
	if n := len(machines.Items); n > 0 {
		conditions.Set(kc, metav1.Condition{Type: infrav1.LoadBalancerAvailableCondition, Status: metav1.ConditionFalse, Reason: clusterv1.DeletingReason,
			Message: fmt.Sprintf("waiting for %d KubevirtMachines of the cluster to be deleted", n)})
		return ctrl.Result{RequeueAfter: waitRequeue}, nil
	}
	infra, infraNamespace, err := r.Infra.For(ctx, kc.Spec.InfraClusterSecretRef, kc.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	ns := kc.Spec.ControlPlaneServiceTemplate.ObjectMeta.Namespace
	if ns == "" {
		ns = infraNamespace
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ServiceName(cluster.Name), Namespace: ns}}
	if err := infra.Delete(ctx, svc); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("deleting the control-plane Service %s/%s: %w", ns, svc.Name, err)
	}
	controllerutil.RemoveFinalizer(kc, infrav1.ClusterFinalizer)
	return ctrl.Result{}, nil
}

func loadBalancerFailed(kc *infrav1.KubevirtCluster, err error) {
	conditions.Set(kc, metav1.Condition{Type: infrav1.LoadBalancerAvailableCondition, Status: metav1.ConditionFalse,
		Reason: infrav1.LoadBalancerProvisioningFailedReason, Message: err.Error()})
}

// setClusterReady summarizes the cluster's state in its Ready condition.
func setClusterReady(kc *infrav1.KubevirtCluster) {
	lb := conditions.Get(kc, infrav1.LoadBalancerAvailableCondition)
	ready := metav1.Condition{Type: infrav1.ReadyCondition, Status: metav1.ConditionTrue, Reason: infrav1.LoadBalancerAvailableReason}
	switch {
	case !kc.DeletionTimestamp.IsZero():
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, clusterv1.DeletingReason, "the KubevirtCluster is being deleted"
	case lb == nil:
		ready.Status, ready.Reason = metav1.ConditionUnknown, "Provisioning"
	case lb.Status != metav1.ConditionTrue:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, lb.Reason, lb.Message
	}
	conditions.Set(kc, ready)
}

// SetupWithManager registers the reconciler: KubevirtClusters, and their Clusters'
// pause and unpause.
func (r *ClusterReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	log := ctrl.LoggerFrom(ctx)
	return ctrl.NewControllerManagedBy(mgr).
		For(&infrav1.KubevirtCluster{}).
		WithEventFilter(predicates.ResourceIsNotExternallyManaged(mgr.GetScheme(), log)).
		Owns(&corev1.Service{}).
		Watches(&clusterv1.Cluster{},
			handler.EnqueueRequestsFromMapFunc(util.ClusterToInfrastructureMapFunc(ctx, infrav1.GroupVersion.WithKind("KubevirtCluster"), mgr.GetClient(), &infrav1.KubevirtCluster{})),
			builder.WithPredicates(predicates.ClusterPausedTransitions(mgr.GetScheme(), log)),
		).
		Watches(&infrav1.KubevirtMachine{}, handler.EnqueueRequestsFromMapFunc(r.machineToCluster)).
		Complete(r)
}

// machineToCluster wakes a deleting KubevirtCluster when one of its machines goes.
func (r *ClusterReconciler) machineToCluster(ctx context.Context, o client.Object) []ctrl.Request {
	name := o.GetLabels()[clusterv1.ClusterNameLabel]
	if name == "" {
		return nil
	}
	cluster := &clusterv1.Cluster{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: o.GetNamespace(), Name: name}, cluster); err != nil {
		return nil
	}
	if !cluster.Spec.InfrastructureRef.IsDefined() || cluster.Spec.InfrastructureRef.Kind != "KubevirtCluster" {
		return nil
	}
	return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: cluster.Spec.InfrastructureRef.Name}}}
}
