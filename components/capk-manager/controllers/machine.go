package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/rest"
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
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	"github.com/hypernest/hypernest/components/capk-manager/bootstrap"
	"github.com/hypernest/hypernest/components/capk-manager/infracluster"
	"github.com/hypernest/hypernest/components/capk-manager/vm"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
)

// VMUIDAnnotation on a KubevirtMachine records the UID of the VM made for it. A machine
// is one VM for its whole life: when that VM is gone or replaced behind the provider's
// back, the machine is reported failed (Cluster API remediates it), never given a new VM
// that would boot with the old machine's identity and bootstrap token.
const VMUIDAnnotation = "capk.hypernest.io/vm-uid"

// bootstrapRecheck is how often the bootstrap sentinel is looked for: kubeadm init under
// TCG takes minutes, and each check costs a guest-agent or SSH round trip.
const bootstrapRecheck = 10 * time.Second

// Failure reasons, in Cluster API's MachineStatusError vocabulary.
const failureUpdateError = "UpdateError"

// MachineReconciler reconciles KubevirtMachines: each gets a VirtualMachine carrying its
// Machine's bootstrap data, and is provisioned once the VM runs and the bootstrap ran.
type MachineReconciler struct {
	Client   client.Client
	Infra    *infracluster.Clients
	Recorder record.EventRecorder
	// Subresources makes a subresources.kubevirt.io/v1 client for an infrastructure
	// cluster's client (the guest-agent check asks virt-api there); nil for the local one.
	Subresources func(infra client.Client) (rest.Interface, error)
	// SSHPort is the guests' SSH port for the ssh check (22 when zero; tests move it).
	SSHPort int
}

// machineScope is what one reconcile of a machine works with.
type machineScope struct {
	cluster       *clusterv1.Cluster
	machine       *clusterv1.Machine
	kubevirtClus  *infrav1.KubevirtCluster
	km            *infrav1.KubevirtMachine
	infra         client.Client
	vmNamespace   string
	vm            *kubevirtv1.VirtualMachine
	vmi           *kubevirtv1.VirtualMachineInstance
	sshInjected   bool
	sshPrivateKey []byte
	checkStrategy string
}

// Reconcile brings one KubevirtMachine to its desired state.
func (r *MachineReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	log := ctrl.LoggerFrom(ctx)
	km := &infrav1.KubevirtMachine{}
	if err := r.Client.Get(ctx, req.NamespacedName, km); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	machine, err := util.GetOwnerMachine(ctx, r.Client, km.ObjectMeta)
	if err != nil {
		return ctrl.Result{}, err
	}
	if machine == nil {
		log.Info("waiting for the Machine controller to set an owner reference on the KubevirtMachine")
		return ctrl.Result{}, nil
	}
	log = log.WithValues("machine", machine.Name)
	cluster, err := util.GetClusterFromMetadata(ctx, r.Client, machine.ObjectMeta)
	if err != nil {
		log.Info("the Machine names no existing Cluster (label " + clusterv1.ClusterNameLabel + ")")
		return ctrl.Result{}, nil
	}
	log = log.WithValues("cluster", cluster.Name)
	ctx = ctrl.LoggerInto(ctx, log)
	if isPaused, requeue, err := paused.EnsurePausedCondition(ctx, r.Client, cluster, km); err != nil || isPaused || requeue {
		return ctrl.Result{}, err
	}

	helper, err := patch.NewHelper(km, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	defer func() {
		setMachineReady(km)
		if err := helper.Patch(ctx, km, patch.WithOwnedConditions{Conditions: []string{
			infrav1.ReadyCondition, infrav1.VMProvisionedCondition, infrav1.BootstrapExecSucceededCondition, infrav1.VMLiveMigratableCondition, clusterv1.PausedCondition,
		}}); err != nil && !apierrors.IsNotFound(err) {
			reterr = kerrors.NewAggregate([]error{reterr, err})
		}
	}()

	s := &machineScope{cluster: cluster, machine: machine, km: km}
	if !km.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	if controllerutil.AddFinalizer(km, infrav1.MachineFinalizer) {
		return ctrl.Result{}, nil
	}
	return r.reconcileNormal(ctx, s)
}

// reconcileNormal runs the phases in order; each returns done=false when the machine
// must wait (its condition then says for what).
func (r *MachineReconciler) reconcileNormal(ctx context.Context, s *machineScope) (ctrl.Result, error) {
	phases := []func(context.Context, *machineScope) (bool, ctrl.Result, error){
		r.waitForClusterInfrastructure,
		r.waitForBootstrapData,
		r.reconcileUserData,
		r.reconcileVM,
		r.readVMI,
		r.evacuate,
		r.waitForVMI,
		r.checkBootstrap,
	}
	for _, phase := range phases {
		done, res, err := phase(ctx, s)
		if err != nil || !done {
			return res, err
		}
	}
	s.km.Status.Ready = true
	if s.km.Status.Initialization == nil {
		s.km.Status.Initialization = &infrav1.KubevirtMachineInitializationStatus{}
	}
	if !ptr.Deref(s.km.Status.Initialization.Provisioned, false) {
		r.Recorder.Eventf(s.km, corev1.EventTypeNormal, "Provisioned", "VM %s/%s runs and its bootstrap check passed", s.vmNamespace, s.km.Name)
	}
	s.km.Status.Initialization.Provisioned = ptr.To(true)
	updated, err := r.updateWorkloadNode(ctx, s)
	if err != nil {
		return updated, err
	}
	uncordoned, err := r.uncordonEvacuatedNode(ctx, s)
	return util.LowestNonZeroResult(updated, uncordoned), err
}

func (r *MachineReconciler) waitForClusterInfrastructure(ctx context.Context, s *machineScope) (bool, ctrl.Result, error) {
	if !ptr.Deref(s.cluster.Status.Initialization.InfrastructureProvisioned, false) {
		setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.WaitingForClusterInfrastructureReason, "the Cluster's infrastructure (KubevirtCluster) is not provisioned yet")
		return false, ctrl.Result{}, nil
	}
	kc := &infrav1.KubevirtCluster{}
	ref := s.cluster.Spec.InfrastructureRef
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.cluster.Namespace, Name: ref.Name}, kc); err != nil {
		return false, ctrl.Result{}, fmt.Errorf("reading the KubevirtCluster %s/%s: %w", s.cluster.Namespace, ref.Name, err)
	}
	s.kubevirtClus = kc
	infraRef := s.km.Spec.InfraClusterSecretRef
	if infraRef == nil {
		infraRef = kc.Spec.InfraClusterSecretRef
	}
	infra, infraNamespace, err := r.Infra.For(ctx, infraRef, s.km.Namespace)
	if err != nil {
		setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.VMCreateFailedReason, err.Error())
		return false, ctrl.Result{RequeueAfter: waitRequeue}, err
	}
	s.infra, s.vmNamespace = infra, infraNamespace
	if ns := s.km.Spec.VirtualMachineTemplate.ObjectMeta.Namespace; ns != "" {
		s.vmNamespace = ns
	}
	s.checkStrategy = s.km.Spec.BootstrapCheckSpec.CheckStrategy
	if s.checkStrategy == "" {
		s.checkStrategy = infrav1.BootstrapCheckSSH
	}
	return true, ctrl.Result{}, nil
}

func (r *MachineReconciler) waitForBootstrapData(_ context.Context, s *machineScope) (bool, ctrl.Result, error) {
	if s.machine.Spec.Bootstrap.DataSecretName != nil {
		return true, ctrl.Result{}, nil
	}
	if !util.IsControlPlaneMachine(s.machine) && !ptr.Deref(s.cluster.Status.Initialization.ControlPlaneInitialized, false) {
		setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.WaitingForControlPlaneAvailableReason, "a worker waits for the control plane to be initialized")
		return false, ctrl.Result{}, nil
	}
	setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.WaitingForBootstrapDataReason, "the Machine's bootstrap data Secret is not ready yet")
	return false, ctrl.Result{}, nil
}

// reconcileUserData copies the Machine's bootstrap data into <secret>-userdata in the
// VM's namespace, where the VM's cloud-init volume reads it (with the "capk" SSH user
// added for the ssh check, as CAPK does).
func (r *MachineReconciler) reconcileUserData(ctx context.Context, s *machineScope) (bool, ctrl.Result, error) {
	name := *s.machine.Spec.Bootstrap.DataSecretName
	source := &corev1.Secret{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.machine.Namespace, Name: name}, source); err != nil {
		setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.WaitingForBootstrapDataReason, fmt.Sprintf("reading the bootstrap data Secret %s: %v", name, err))
		return false, ctrl.Result{RequeueAfter: waitRequeue}, nil
	}
	data, err := vm.BootstrapData(source)
	if err != nil {
		setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.WaitingForBootstrapDataReason, err.Error())
		return false, ctrl.Result{RequeueAfter: waitRequeue}, nil
	}
	if s.checkStrategy == infrav1.BootstrapCheckSSH {
		keys := &corev1.Secret{}
		keysName := ptr.Deref(s.kubevirtClus.Spec.SshKeys.DataSecretName, "")
		if keysName == "" {
			setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.WaitingForClusterInfrastructureReason, "the KubevirtCluster has no SSH keys yet")
			return false, ctrl.Result{RequeueAfter: waitRequeue}, nil
		}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.kubevirtClus.Namespace, Name: keysName}, keys); err != nil {
			return false, ctrl.Result{}, fmt.Errorf("reading the cluster's SSH keys %s: %w", keysName, err)
		}
		if data, s.sshInjected, err = bootstrap.WithSSHUser(data, keys.Data[bootstrap.SSHPublicKeyKey]); err != nil {
			setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.VMCreateFailedReason, err.Error())
			return false, ctrl.Result{}, nil
		}
		s.sshPrivateKey = keys.Data[bootstrap.SSHPrivateKeyKey]
	}
	userData := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: vm.UserDataSecretName(name), Namespace: s.vmNamespace}}
	if _, err := controllerutil.CreateOrUpdate(ctx, s.infra, userData, func() error {
		if userData.Labels == nil {
			userData.Labels = map[string]string{}
		}
		userData.Labels[clusterv1.ClusterNameLabel] = s.cluster.Name
		userData.Labels[infrav1.KubevirtMachineNameLabel] = s.km.Name
		userData.Type = clusterv1.ClusterSecretType
		userData.Data = map[string][]byte{vm.UserDataSecretKey: data}
		return nil
	}); err != nil {
		return false, ctrl.Result{}, fmt.Errorf("writing the VM's bootstrap data Secret %s/%s: %w", s.vmNamespace, userData.Name, err)
	}
	return true, ctrl.Result{}, nil
}

// reconcileVM creates the machine's VM once, and afterwards only reads it: a VM deleted,
// replaced or stopped behind the provider's back fails the machine.
func (r *MachineReconciler) reconcileVM(ctx context.Context, s *machineScope) (bool, ctrl.Result, error) {
	current := &kubevirtv1.VirtualMachine{}
	err := s.infra.Get(ctx, client.ObjectKey{Namespace: s.vmNamespace, Name: s.km.Name}, current)
	recorded := types.UID(s.km.Annotations[VMUIDAnnotation])
	switch {
	case apierrors.IsNotFound(err) && recorded != "":
		return r.lost(s, fmt.Sprintf("VM %s/%s was deleted behind the provider's back; the machine is not given a new VM with its identity", s.vmNamespace, s.km.Name))
	case apierrors.IsNotFound(err):
		desired := vm.Build(s.km, vm.Params{ClusterName: s.cluster.Name, Namespace: s.vmNamespace,
			ControlPlane: util.IsControlPlaneMachine(s.machine), BootstrapSecretName: *s.machine.Spec.Bootstrap.DataSecretName})
		if err := s.infra.Create(ctx, desired); err != nil {
			setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.VMCreateFailedReason, fmt.Sprintf("creating VM %s/%s: %v", s.vmNamespace, s.km.Name, err))
			r.Recorder.Eventf(s.km, corev1.EventTypeWarning, infrav1.VMCreateFailedReason, "Creating VM %s/%s: %v", s.vmNamespace, s.km.Name, err)
			return false, ctrl.Result{}, err
		}
		if s.km.Annotations == nil {
			s.km.Annotations = map[string]string{}
		}
		s.km.Annotations[VMUIDAnnotation] = string(desired.UID)
		r.Recorder.Eventf(s.km, corev1.EventTypeNormal, "VMCreated", "Created VM %s/%s", s.vmNamespace, s.km.Name)
		setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.VMNotReadyReason, "the VM was just created")
		return false, ctrl.Result{}, nil
	case err != nil:
		return false, ctrl.Result{}, err
	}
	if recorded == "" {
		// Created by an earlier reconcile whose patch was lost (or adopted after a
		// restore): it carries this machine's labels, so it is the machine's VM.
		if current.Labels[infrav1.KubevirtMachineNameLabel] != s.km.Name || current.Labels[infrav1.KubevirtMachineNamespaceLabel] != s.km.Namespace {
			return r.lost(s, fmt.Sprintf("VM %s/%s exists but does not belong to this KubevirtMachine (its labels name another)", s.vmNamespace, s.km.Name))
		}
		if s.km.Annotations == nil {
			s.km.Annotations = map[string]string{}
		}
		s.km.Annotations[VMUIDAnnotation] = string(current.UID)
	} else if current.UID != recorded {
		return r.lost(s, fmt.Sprintf("VM %s/%s was replaced behind the provider's back (UID %s, not %s)", s.vmNamespace, s.km.Name, current.UID, recorded))
	}
	s.vm = current
	return true, ctrl.Result{}, nil
}

// lost fails the machine for good: Cluster API's MachineHealthCheck or a person replaces it.
func (r *MachineReconciler) lost(s *machineScope, msg string) (bool, ctrl.Result, error) {
	if s.km.Status.FailureMessage == nil || *s.km.Status.FailureMessage != msg {
		r.Recorder.Event(s.km, corev1.EventTypeWarning, infrav1.VMLostReason, msg)
	}
	s.km.Status.FailureReason, s.km.Status.FailureMessage = ptr.To(failureUpdateError), ptr.To(msg)
	s.km.Status.Ready = false
	setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.VMLostReason, msg)
	return false, ctrl.Result{}, nil
}

// readVMI reads the VM's VMI (nil while there is none), fails the machine whose VM was
// stopped behind the provider's back, and reports whether the VMI can live-migrate.
func (r *MachineReconciler) readVMI(ctx context.Context, s *machineScope) (bool, ctrl.Result, error) {
	vmi := &kubevirtv1.VirtualMachineInstance{}
	err := s.infra.Get(ctx, client.ObjectKey{Namespace: s.vmNamespace, Name: s.km.Name}, vmi)
	switch {
	case apierrors.IsNotFound(err):
		vmi = nil
	case err != nil:
		return false, ctrl.Result{}, err
	}
	s.vmi = vmi
	if stopped, why := vm.Stopped(s.vm, vmi); stopped {
		return r.lost(s, fmt.Sprintf("VM %s/%s was stopped behind the provider's back: %s", s.vmNamespace, s.km.Name, why))
	}
	s.km.Status.FailureReason, s.km.Status.FailureMessage = nil, nil
	if migratable, reason, message, known := vm.LiveMigratable(vmi); known && migratable {
		conditions.Set(s.km, metav1.Condition{Type: infrav1.VMLiveMigratableCondition, Status: metav1.ConditionTrue, Reason: infrav1.VMLiveMigratableReason})
	} else if known {
		conditions.Set(s.km, metav1.Condition{Type: infrav1.VMLiveMigratableCondition, Status: metav1.ConditionFalse, Reason: reason, Message: message})
	}
	return true, ctrl.Result{}, nil
}

// waitForVMI waits until the VM's VMI is Ready, then records the machine's addresses and
// provider ID.
func (r *MachineReconciler) waitForVMI(_ context.Context, s *machineScope) (bool, ctrl.Result, error) {
	vmi := s.vmi
	if !vm.IsReady(vmi) {
		s.km.Status.Ready = false
		setVMProvisioned(s.km, metav1.ConditionFalse, infrav1.VMNotReadyReason, vm.NotReadyReason(s.vm, vmi))
		// VMI events wake the reconciler on the local cluster; an external one is polled.
		return false, ctrl.Result{RequeueAfter: r.pollExternal(s)}, nil
	}
	setVMProvisioned(s.km, metav1.ConditionTrue, infrav1.VMProvisionedReason, "")
	s.km.Status.Addresses = vm.Addresses(s.km.Name, vmi)
	if ptr.Deref(s.km.Spec.ProviderID, "") == "" {
		s.km.Spec.ProviderID = ptr.To(vm.ProviderID(s.km.Name))
	}
	return true, ctrl.Result{}, nil
}

func (r *MachineReconciler) pollExternal(s *machineScope) time.Duration {
	if s.infra == r.Infra.Local {
		return 0
	}
	return waitRequeue
}

// checkBootstrap runs the machine's bootstrap check strategy until it passes; once
// passed it is not run again.
func (r *MachineReconciler) checkBootstrap(ctx context.Context, s *machineScope) (bool, ctrl.Result, error) {
	if conditions.IsTrue(s.km, infrav1.BootstrapExecSucceededCondition) {
		return true, ctrl.Result{}, nil
	}
	var checker bootstrap.Checker
	switch s.checkStrategy {
	case infrav1.BootstrapCheckNone:
		checker = bootstrap.None{}
	case infrav1.BootstrapCheckSSH:
		if !s.sshInjected {
			// Bootstrap data that is not cloud-config gets no capk user; CAPK reports the
			// check as not supported rather than waiting forever.
			setBootstrap(s.km, metav1.ConditionTrue, "BootstrapCheckingNotSupported", "the bootstrap data is not cloud-config, so the ssh check cannot log in; not checked")
			return true, ctrl.Result{}, nil
		}
		checker = bootstrap.SSH{Port: r.SSHPort}
	case infrav1.BootstrapCheckGuestAgent:
		enabled, err := gateEnabled(ctx, s.infra, clusterconfig.GuestAgentBootstrapCheck)
		if err != nil {
			return false, ctrl.Result{}, err
		}
		if !enabled {
			setBootstrap(s.km, metav1.ConditionFalse, infrav1.BootstrapFailedReason,
				"checkStrategy guest-agent needs the "+clusterconfig.GuestAgentBootstrapCheck+" feature gate in the infrastructure cluster's KubeVirt object (spec.configuration.developerConfiguration.featureGates)")
			return false, ctrl.Result{RequeueAfter: waitRequeue}, nil
		}
		subresources, err := r.subresourcesFor(s.infra)
		if err != nil {
			return false, ctrl.Result{}, err
		}
		checker = bootstrap.GuestAgent{Subresources: subresources}
	default:
		setBootstrap(s.km, metav1.ConditionFalse, infrav1.BootstrapFailedReason, fmt.Sprintf("unknown checkStrategy %q", s.checkStrategy))
		return false, ctrl.Result{}, nil
	}
	done, msg, err := checker.Check(ctx, bootstrap.Target{VMI: s.vmi, Address: vm.FirstIP(s.vmi), PrivateKey: s.sshPrivateKey})
	if err != nil {
		setBootstrap(s.km, metav1.ConditionFalse, infrav1.BootstrapFailedReason, err.Error())
		s.km.Status.Ready = false
		return false, ctrl.Result{RequeueAfter: bootstrapRecheck}, nil
	}
	if !done {
		setBootstrap(s.km, metav1.ConditionFalse, infrav1.BootstrappingReason, msg)
		s.km.Status.Ready = false
		return false, ctrl.Result{RequeueAfter: bootstrapRecheck}, nil
	}
	setBootstrap(s.km, metav1.ConditionTrue, infrav1.BootstrapSucceededReason, msg)
	r.Recorder.Eventf(s.km, corev1.EventTypeNormal, infrav1.BootstrapSucceededReason, "Bootstrap check %s passed: %s", s.checkStrategy, msg)
	return true, ctrl.Result{}, nil
}

func (r *MachineReconciler) subresourcesFor(infra client.Client) (rest.Interface, error) {
	if r.Subresources == nil {
		return nil, fmt.Errorf("no subresources client for the guest-agent check")
	}
	return r.Subresources(infra)
}

// gateEnabled reads the feature gate from the infrastructure cluster's KubeVirt object.
func gateEnabled(ctx context.Context, infra client.Reader, gate string) (bool, error) {
	list := &kubevirtv1.KubeVirtList{}
	if err := infra.List(ctx, list); err != nil {
		return false, fmt.Errorf("reading the infrastructure cluster's KubeVirt object: %w", err)
	}
	for i := range list.Items {
		if clusterconfig.FromKubeVirt(&list.Items[i]).GateEnabled(gate) {
			return true, nil
		}
	}
	return false, nil
}

// reconcileDelete removes the VM and its bootstrap data Secret, then the finalizer.
func (r *MachineReconciler) reconcileDelete(ctx context.Context, s *machineScope) (ctrl.Result, error) {
	setVMProvisioned(s.km, metav1.ConditionFalse, clusterv1.DeletingReason, "")
	infraRef := s.km.Spec.InfraClusterSecretRef
	if infraRef == nil && s.cluster != nil && s.cluster.Spec.InfrastructureRef.IsDefined() {
		kc := &infrav1.KubevirtCluster{}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.cluster.Namespace, Name: s.cluster.Spec.InfrastructureRef.Name}, kc); err == nil {
			infraRef = kc.Spec.InfraClusterSecretRef
		}
	}
	infra, ns, err := r.Infra.For(ctx, infraRef, s.km.Namespace)
	if err != nil {
		return ctrl.Result{RequeueAfter: waitRequeue}, err
	}
	if t := s.km.Spec.VirtualMachineTemplate.ObjectMeta.Namespace; t != "" {
		ns = t
	}
	current := &kubevirtv1.VirtualMachine{}
	err = infra.Get(ctx, client.ObjectKey{Namespace: ns, Name: s.km.Name}, current)
	switch {
	case err == nil && current.Labels[infrav1.KubevirtMachineNameLabel] == s.km.Name && current.DeletionTimestamp.IsZero():
		if err := infra.Delete(ctx, current, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting VM %s/%s: %w", ns, s.km.Name, err)
		}
		r.Recorder.Eventf(s.km, corev1.EventTypeNormal, "VMDeleted", "Deleting VM %s/%s", ns, s.km.Name)
		return ctrl.Result{RequeueAfter: r.pollDeletion(infra)}, nil
	case err == nil && current.Labels[infrav1.KubevirtMachineNameLabel] == s.km.Name:
		return ctrl.Result{RequeueAfter: r.pollDeletion(infra)}, nil // going
	case err != nil && !apierrors.IsNotFound(err):
		return ctrl.Result{}, err
	}
	if s.machine.Spec.Bootstrap.DataSecretName != nil {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: vm.UserDataSecretName(*s.machine.Spec.Bootstrap.DataSecretName)}}
		if err := infra.Delete(ctx, secret); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, fmt.Errorf("deleting the bootstrap data Secret %s/%s: %w", ns, secret.Name, err)
		}
	}
	controllerutil.RemoveFinalizer(s.km, infrav1.MachineFinalizer)
	return ctrl.Result{}, nil
}

func (r *MachineReconciler) pollDeletion(infra client.Client) time.Duration {
	if infra == r.Infra.Local {
		return 2 * time.Second // VM deletion events also wake it; this is a backstop
	}
	return waitRequeue
}

func setVMProvisioned(km *infrav1.KubevirtMachine, status metav1.ConditionStatus, reason, msg string) {
	conditions.Set(km, metav1.Condition{Type: infrav1.VMProvisionedCondition, Status: status, Reason: reason, Message: msg})
}

func setBootstrap(km *infrav1.KubevirtMachine, status metav1.ConditionStatus, reason, msg string) {
	conditions.Set(km, metav1.Condition{Type: infrav1.BootstrapExecSucceededCondition, Status: status, Reason: reason, Message: msg})
}

// setMachineReady summarizes VMProvisioned and BootstrapExecSucceeded in Ready.
func setMachineReady(km *infrav1.KubevirtMachine) {
	ready := metav1.Condition{Type: infrav1.ReadyCondition, Status: metav1.ConditionTrue, Reason: "Ready"}
	vmCond := conditions.Get(km, infrav1.VMProvisionedCondition)
	bootCond := conditions.Get(km, infrav1.BootstrapExecSucceededCondition)
	switch {
	case !km.DeletionTimestamp.IsZero():
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, clusterv1.DeletingReason, "the KubevirtMachine is being deleted"
	case vmCond == nil:
		ready.Status, ready.Reason = metav1.ConditionUnknown, "Provisioning"
	case vmCond.Status != metav1.ConditionTrue:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, vmCond.Reason, vmCond.Message
	case bootCond == nil:
		ready.Status, ready.Reason = metav1.ConditionFalse, infrav1.BootstrappingReason
	case bootCond.Status != metav1.ConditionTrue:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, bootCond.Reason, bootCond.Message
	}
	conditions.Set(km, ready)
}

// SetupWithManager registers the reconciler: KubevirtMachines, their Machines, Clusters
// (pause, infrastructure provisioned), KubevirtClusters, and the VMs and VMIs the
// provider made on the local cluster.
func (r *MachineReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, workers int) error {
	log := ctrl.LoggerFrom(ctx)
	clusterToMachines, err := util.ClusterToTypedObjectsMapper(mgr.GetClient(), &infrav1.KubevirtMachineList{}, mgr.GetScheme())
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&infrav1.KubevirtMachine{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Watches(&clusterv1.Machine{}, handler.EnqueueRequestsFromMapFunc(util.MachineToInfrastructureMapFunc(infrav1.GroupVersion.WithKind("KubevirtMachine")))).
		Watches(&clusterv1.Cluster{}, handler.EnqueueRequestsFromMapFunc(clusterToMachines),
			builder.WithPredicates(predicates.ClusterPausedTransitionsOrInfrastructureProvisioned(mgr.GetScheme(), log))).
		Watches(&infrav1.KubevirtCluster{}, handler.EnqueueRequestsFromMapFunc(r.kubevirtClusterToMachines)).
		Watches(&kubevirtv1.VirtualMachine{}, handler.EnqueueRequestsFromMapFunc(byMachineLabels)).
		Watches(&kubevirtv1.VirtualMachineInstance{}, handler.EnqueueRequestsFromMapFunc(byMachineLabels)).
		Complete(r)
}

// byMachineLabels maps a VM or VMI the provider made to its KubevirtMachine.
func byMachineLabels(_ context.Context, o client.Object) []ctrl.Request {
	name, ns := o.GetLabels()[infrav1.KubevirtMachineNameLabel], o.GetLabels()[infrav1.KubevirtMachineNamespaceLabel]
	if name == "" || ns == "" {
		return nil
	}
	return []ctrl.Request{{NamespacedName: client.ObjectKey{Namespace: ns, Name: name}}}
}

func (r *MachineReconciler) kubevirtClusterToMachines(ctx context.Context, o client.Object) []ctrl.Request {
	cluster, err := util.GetOwnerCluster(ctx, r.Client, metav1.ObjectMeta{Namespace: o.GetNamespace(), OwnerReferences: o.GetOwnerReferences()})
	if err != nil || cluster == nil {
		return nil
	}
	list := &infrav1.KubevirtMachineList{}
	if err := r.Client.List(ctx, list, client.InNamespace(o.GetNamespace()), client.MatchingLabels{clusterv1.ClusterNameLabel: cluster.Name}); err != nil {
		return nil
	}
	out := make([]ctrl.Request, 0, len(list.Items))
	for _, m := range list.Items {
		out = append(out, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&m)})
	}
	return out
}
