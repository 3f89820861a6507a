// Package vmi is virt-handler's VMI controller: for every VirtualMachineInstance
// scheduled to its node it connects to the VMI's launcher, wires the pod network, hands
// the launcher the domain to run, and keeps the VMI's status in step with the domain.
// Domains outlive virt-handler: a restarted handler re-adopts them without touching them.
package vmi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-handler/domainstats"
	"github.com/hypernest/hypernest/components/virt-handler/launcherclient"
	"github.com/hypernest/hypernest/components/virt-handler/migrationproxy"
	"github.com/hypernest/hypernest/components/virt-handler/network"
	"github.com/hypernest/hypernest/components/virt-handler/qemucaps"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/metrics"
)

// Retry intervals. The launcher answers within a second of its pod starting, and a
// VMI's start waits on the first successful dial: 500 ms keeps that wait short (a failed
// dial of a unix socket costs microseconds). QEMU under TCG on a loaded node can take far
// longer to reach a state, hence the periodic resync.
const (
	launcherRetry = 500 * time.Millisecond
	resyncPeriod  = 30 * time.Second
)

// A guest QEMU paused on a disk I/O error (often a full host disk) is resumed after
// ioErrorFirstDelay, then after twice as long each time it pauses again within
// ioErrorMaxDelay of the last resume, up to ioErrorMaxDelay: KubeVirt's virt-handler
// retries with the same 10 s to 3 min backoff (its io-error-retry manager).
const (
	ioErrorFirstDelay = 10 * time.Second
	ioErrorMaxDelay   = 3 * time.Minute
)

// Reconciler runs the VMIs of one node.
type Reconciler struct {
	client.Client
	Log      logr.Logger
	Recorder record.EventRecorder
	NodeName string
	// KubeletPodsDir is the kubelet's pod folder as virt-handler sees it.
	KubeletPodsDir string
	// Config is the cluster configuration (developerConfiguration.useEmulation: guests
	// under TCG), read when a guest starts.
	Config func(context.Context) clusterconfig.Config
	// QEMUCapabilities is libvirt's QEMU capabilities cache from this node's probe, sent
	// to launchers of the probed image so their libvirtd does not probe QEMU again.
	QEMUCapabilities *qemucaps.Cache
	// NodeAddress is this handler's pod IP: the target node's handler of a live migration
	// listens there for the source's.
	NodeAddress string
	// MigrationTLS authenticates the handlers of a migration's two nodes to each other.
	MigrationTLS MigrationTLS
	// MigrationTargets holds the VMIs migrating to this node (labelled
	// kubevirt.io/migrationTargetNodeName with its name), which the manager's cache,
	// holding this node's VMIs only, does not.
	MigrationTargets cache.Cache
	// Workers is how many VMIs are reconciled at once. A domain's start waits on its
	// launcher (define, network, QEMU's start: seconds on a busy node), so one worker
	// would start a burst of VMIs one after another.
	Workers int

	mu        sync.Mutex
	launchers map[types.UID]*launcher
	changes   chan event.GenericEvent
}

// launcher is the connection to one VMI's launcher and its domain watch.
type launcher struct {
	name     types.NamespacedName
	client   *launcherclient.Client
	podUID   types.UID
	cancel   context.CancelFunc
	plumbing []*launcherv1.InterfacePlumbing
	// ioErrorDelay, ioErrorSince and ioErrorResume: the wait before resuming a guest
	// paused on an I/O error, when this pause was first seen (zero while the guest runs)
	// and when it was last resumed.
	ioErrorDelay  time.Duration
	ioErrorSince  time.Time
	ioErrorResume time.Time
	// proxy joins this launcher's migration streams to the other node's handler, for the
	// migration proxyUID.
	proxy    *migrationproxy.Proxy
	proxyUID types.UID
	// downtimeObserved is the migration whose switch-over pause went into the downtime
	// histogram: a status patch that loses a conflict leaves the cached VMI's
	// migrationState not Completed, and the retry must not observe it again.
	downtimeObserved types.UID
}

// SetupWithManager wires the controller: VMIs on this node, their launcher pods, and
// domain changes the launchers stream.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.launchers = map[types.UID]*launcher{}
	r.changes = make(chan event.GenericEvent, 64)
	onThisNode := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetLabels()[v1.NodeNameLabel] == r.NodeName
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named("virt-handler-vmi").
		For(&v1.VirtualMachineInstance{}, builder.WithPredicates(onThisNode))
	if r.MigrationTargets != nil {
		b = b.WatchesRawSource(source.Kind(r.MigrationTargets, &v1.VirtualMachineInstance{}, &handler.TypedEnqueueRequestForObject[*v1.VirtualMachineInstance]{}))
	}
	return b.
		Watches(&k8sv1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			name := o.GetAnnotations()[v1.DomainAnnotation]
			if o.GetLabels()[v1.AppLabel] != launcherv1.AppLabelValue || name == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: name}}}
		})).
		WatchesRawSource(source.Channel(r.changes, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1), NewQueue: metrics.Queue[reconcile.Request]("virt-handler-vm")}).
		Complete(r)
}

// Reconcile brings one VMI's domain and status in line. A status write that lost the
// race with another writer is no error: the VMI is read again and the status recomputed.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	result, err := r.reconcile(ctx, req)
	if apierrors.IsConflict(err) {
		return ctrl.Result{Requeue: true}, nil
	}
	return result, err
}

func (r *Reconciler) reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := r.Log.WithValues("vmi", req.NamespacedName)
	vmi, err := r.getVMI(ctx, req.NamespacedName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			r.forgetByName(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if vmi.Status.NodeName != r.NodeName && r.migrationTargetHere(vmi) {
		return r.reconcileTarget(ctx, vmi)
	}
	if vmi.Status.NodeName != r.NodeName || vmi.Status.Phase.IsFinal() {
		r.forget(vmi.UID)
		return ctrl.Result{}, nil
	}
	if vmi.Status.Phase != v1.Scheduled && vmi.Status.Phase != v1.Running {
		return ctrl.Result{}, nil
	}
	if vmi.Labels[v1.MigrationTargetNodeNameLabel] == r.NodeName || vmi.Labels[v1.NodeNameLabel] != r.NodeName {
		// Migrated here, and the labels not yet moved (a handler restarted in between).
		if err := r.ownLabels(ctx, vmi); err != nil {
			return ctrl.Result{}, err
		}
	}

	pod, err := r.launcherPod(ctx, vmi)
	if err != nil {
		return ctrl.Result{}, err
	}
	newStatus := vmi.Status.DeepCopy()
	switch {
	case pod == nil:
		r.forget(vmi.UID)
		v1.FinishVMI(newStatus, v1.Failed, v1.PodNotExistsReason)
		return ctrl.Result{}, r.updateStatus(ctx, vmi, newStatus)
	case pod.Status.Phase == k8sv1.PodPending:
		return ctrl.Result{RequeueAfter: launcherRetry}, nil
	case pod.Status.Phase == k8sv1.PodSucceeded && r.migratedAway(vmi):
		// The guest runs on the target node, whose handler takes the VMI over.
		r.forget(vmi.UID)
		return ctrl.Result{RequeueAfter: resyncPeriod}, nil
	case pod.Status.Phase == k8sv1.PodSucceeded || pod.Status.Phase == k8sv1.PodFailed:
		// The launcher is gone, and told how the guest ended through its exit code.
		r.forget(vmi.UID)
		if pod.Status.Phase == k8sv1.PodSucceeded {
			v1.FinishVMI(newStatus, v1.Succeeded, "GuestShutdown")
		} else {
			v1.FinishVMI(newStatus, v1.Failed, "LauncherFailed")
		}
		return ctrl.Result{}, r.updateStatus(ctx, vmi, newStatus)
	}

	l, err := r.connect(ctx, vmi, pod)
	if err != nil {
		log.V(1).Info("launcher not reachable yet", "error", err.Error())
		return ctrl.Result{RequeueAfter: launcherRetry}, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	domain, err := l.client.GetDomain(callCtx, &launcherv1.Empty{})
	if err != nil {
		log.V(1).Info("launcher not answering yet", "error", err.Error())
		return ctrl.Result{RequeueAfter: launcherRetry}, nil
	}

	if vmi.DeletionTimestamp != nil {
		if domain.State == launcherv1.DomainState_RUNNING || domain.State == launcherv1.DomainState_PAUSED {
			grace := int64(v1.DefaultGracePeriodSeconds)
			if vmi.Spec.TerminationGracePeriodSeconds != nil {
				grace = *vmi.Spec.TerminationGracePeriodSeconds
			}
			if _, err := l.client.Shutdown(callCtx, &launcherv1.ShutdownRequest{GracePeriodSeconds: grace}); err != nil {
				return ctrl.Result{}, err
			}
			r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, "ShuttingDown", "Shutting down the guest (grace period %ds)", grace)
			return ctrl.Result{RequeueAfter: resyncPeriod}, nil
		}
		if domain.State == launcherv1.DomainState_SHUTTING_DOWN {
			return ctrl.Result{RequeueAfter: resyncPeriod}, nil
		}
		// The guest is off: say so at once, so virt-controller removes the pod and
		// releases the VMI without waiting for the launcher to exit.
		r.applyDomain(vmi, pod, l, domain, newStatus)
		return ctrl.Result{}, r.updateStatus(ctx, vmi, newStatus)
	}

	if domain.State == launcherv1.DomainState_NO_DOMAIN && r.migratedAway(vmi) {
		// The guest runs on the target node: starting it here would run it twice.
		return ctrl.Result{RequeueAfter: resyncPeriod}, nil
	}
	if domain.State == launcherv1.DomainState_NO_DOMAIN {
		if err := r.start(callCtx, vmi, pod, l, newStatus); err != nil {
			log.Error(err, "starting the domain")
			v1.SetVMICondition(newStatus, v1.VirtualMachineInstanceSynchronized, k8sv1.ConditionFalse, "SyncFailed", err.Error())
			r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, "SyncFailed", "%v", err)
			if uerr := r.updateStatus(ctx, vmi, newStatus); uerr != nil {
				return ctrl.Result{}, uerr
			}
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
		// Read the started domain back and write Running in this same pass. Requeued
		// instead, the VMI waited behind every VMI still starting: in a 100-VMI burst
		// (make bench, 2026-12-02) all launchers were up within 2 min, yet the VMIs went
		// Running together at the end, once the workers had drained the queue.
		started, err := l.client.GetDomain(callCtx, &launcherv1.Empty{})
		if err != nil || started.State == launcherv1.DomainState_NO_DOMAIN {
			// Written now all the same: an earlier SyncFailed goes as the guest starts.
			return ctrl.Result{RequeueAfter: launcherRetry}, r.updateStatus(ctx, vmi, newStatus)
		}
		domain = started
	}

	r.applyDomain(vmi, pod, l, domain, newStatus)
	migrationErr := r.syncMigrationSource(callCtx, vmi, pod, l, domain, newStatus)
	if err := r.updateStatus(ctx, vmi, newStatus); err != nil {
		return ctrl.Result{}, err
	}
	if migrationErr != nil {
		log.Error(migrationErr, "live migration")
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, "MigrationFailed", "%v", migrationErr)
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	}
	if domain.State == launcherv1.DomainState_PAUSED && domain.Reason == launcherv1.ReasonPausedIOError {
		return r.resumeAfterIOError(callCtx, vmi, l), nil
	}
	l.ioErrorSince = time.Time{}
	return ctrl.Result{RequeueAfter: resyncPeriod}, nil
}

// resumeAfterIOError resumes a guest QEMU paused on a disk I/O error once its delay has
// passed, as KubeVirt does: the error may be gone (space freed, storage back), and if
// not the guest pauses again, with a longer delay next time.
func (r *Reconciler) resumeAfterIOError(ctx context.Context, vmi *v1.VirtualMachineInstance, l *launcher) ctrl.Result {
	now := time.Now()
	if l.ioErrorSince.IsZero() {
		l.ioErrorSince = now
		switch {
		case l.ioErrorDelay == 0 || now.Sub(l.ioErrorResume) > ioErrorMaxDelay:
			l.ioErrorDelay = ioErrorFirstDelay
		default:
			l.ioErrorDelay = min(2*l.ioErrorDelay, ioErrorMaxDelay)
		}
	}
	if wait := l.ioErrorSince.Add(l.ioErrorDelay).Sub(now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}
	}
	if _, err := l.client.Unpause(ctx, &launcherv1.Empty{}); err != nil {
		r.Log.Error(err, "resuming a guest paused on an I/O error", "vmi", l.name)
		return ctrl.Result{RequeueAfter: ioErrorFirstDelay}
	}
	r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, "Resumed", "Resumed the guest %s after it paused on an I/O error", l.ioErrorDelay.Round(time.Second))
	l.ioErrorSince, l.ioErrorResume = time.Time{}, now
	return ctrl.Result{RequeueAfter: launcherRetry}
}

// recordDiskErrors tells, in KubeVirt's words, which volumes paused the guest.
func (r *Reconciler) recordDiskErrors(vmi *v1.VirtualMachineInstance, errs []*launcherv1.DiskError) {
	if len(errs) == 0 {
		r.Recorder.Event(vmi, k8sv1.EventTypeWarning, "IOerror", "VM Paused due to IO error")
	}
	for _, e := range errs {
		if e.NoSpace {
			r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, "IOerror", "VM Paused due to not enough space on volume: %s", e.Volume)
		} else {
			r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, "IOerror", "VM Paused due to IO error at the volume: %s", e.Volume)
		}
	}
}

// start wires the network and has the launcher define and start the domain.
func (r *Reconciler) start(ctx context.Context, vmi *v1.VirtualMachineInstance, pod *k8sv1.Pod, l *launcher, status *v1.VirtualMachineInstanceStatus) error {
	req, err := r.syncRequest(ctx, vmi, pod, l)
	if err != nil {
		return err
	}
	res, err := l.client.Sync(ctx, req)
	if err != nil {
		return err
	}
	if !res.Ok {
		return errors.New(res.Message)
	}
	// As KubeVirt: Synchronized exists only False, while a sync fails.
	v1.RemoveVMICondition(status, v1.VirtualMachineInstanceSynchronized)
	r.Recorder.Event(vmi, k8sv1.EventTypeNormal, "Created", "The launcher defined and started the domain")
	return nil
}

// syncRequest wires the pod's network for the guest (the launcher's process names its
// network namespace) and makes the request that hands the VMI to the launcher: to start
// the guest, or to receive it in a migration.
func (r *Reconciler) syncRequest(ctx context.Context, vmi *v1.VirtualMachineInstance, pod *k8sv1.Pod, l *launcher) (*launcherv1.SyncRequest, error) {
	spec := vmi.DeepCopy()
	defaults.SetVirtualMachineInstanceSpecDefaults(&spec.Spec)
	pid, err := l.client.PID(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding the launcher's process: %w", err)
	}
	plumbing, err := network.Plumb(pid, spec)
	if err != nil {
		return nil, fmt.Errorf("wiring the pod network: %w", err)
	}
	l.plumbing = plumbing
	data, err := json.Marshal(vmi)
	if err != nil {
		return nil, err
	}
	return &launcherv1.SyncRequest{Vmi: data, Interfaces: plumbing, Options: r.launchOptions(ctx, pod)}, nil
}

// launchOptions are the cluster's settings a launcher in pod runs its domain with.
func (r *Reconciler) launchOptions(ctx context.Context, pod *k8sv1.Pod) *launcherv1.LaunchOptions {
	opts := &launcherv1.LaunchOptions{UseEmulation: r.Config(ctx).UseEmulation}
	if opts.UseEmulation {
		// The probe ran without /dev/kvm: a launcher that has KVM would find the cache
		// does not match and probe anyway.
		opts.QemuCapabilities = r.QEMUCapabilities.For(launcherImage(pod))
	}
	return opts
}

// launcherImage is the image of the pod's compute container.
func launcherImage(pod *k8sv1.Pod) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == launcherv1.ComputeContainerName {
			return c.Image
		}
	}
	return ""
}

// applyDomain maps the domain's state onto the VMI's status.
func (r *Reconciler) applyDomain(vmi *v1.VirtualMachineInstance, pod *k8sv1.Pod, l *launcher, d *launcherv1.DomainStatus, s *v1.VirtualMachineInstanceStatus) {
	if image := launcherImage(pod); image != "" {
		s.LauncherContainerImageVersion = image
	}
	switch d.State {
	case launcherv1.DomainState_RUNNING, launcherv1.DomainState_PAUSED, launcherv1.DomainState_SHUTTING_DOWN:
		r.setPhase(vmi, s, v1.Running)
		s.Reason = ""
		// A guest paused by a migration (the switch-over) is paused by no one.
		if d.State == launcherv1.DomainState_PAUSED && d.Reason != launcherv1.ReasonPausedMigration {
			// KubeVirt's reasons and messages: paused by the user, or by QEMU on an I/O error.
			reason, message := v1.PausedByUserReason, "VMI was paused by user"
			if d.Reason == launcherv1.ReasonPausedIOError {
				reason, message = v1.PausedIOErrorReason, "VMI was paused, low-level IO error detected"
				if c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstancePaused); c == nil || c.Reason != reason {
					r.recordDiskErrors(vmi, d.DiskErrors)
				}
			}
			v1.SetVMICondition(s, v1.VirtualMachineInstancePaused, k8sv1.ConditionTrue, reason, message)
			v1.SetVMICondition(s, v1.VirtualMachineInstanceReady, k8sv1.ConditionFalse, reason, message)
		} else {
			v1.RemoveVMICondition(s, v1.VirtualMachineInstancePaused)
			v1.SetVMICondition(s, v1.VirtualMachineInstanceReady, k8sv1.ConditionTrue, "", "")
		}
		if ok, reason, message := liveMigratable(vmi); ok {
			v1.SetVMICondition(s, v1.VirtualMachineInstanceIsMigratable, k8sv1.ConditionTrue, "", "")
		} else {
			v1.SetVMICondition(s, v1.VirtualMachineInstanceIsMigratable, k8sv1.ConditionFalse, reason, message)
		}
		// As KubeVirt: AgentConnected while a guest agent answers, gone otherwise; the
		// guest OS as the agent last reported it.
		if d.AgentConnected {
			v1.SetVMICondition(s, v1.VirtualMachineInstanceAgentConnected, k8sv1.ConditionTrue, "", "")
		} else {
			v1.RemoveVMICondition(s, v1.VirtualMachineInstanceAgentConnected)
		}
		if os := d.GuestOs; os != nil {
			s.GuestOSInfo = v1.VirtualMachineInstanceGuestOSInfo{Name: os.Name, KernelRelease: os.KernelRelease, Version: os.Version,
				PrettyName: os.PrettyName, VersionID: os.VersionId, KernelVersion: os.KernelVersion, Machine: os.Machine, ID: os.Id}
		}
		// As KubeVirt: the machine type the domain runs with, expanded by libvirt.
		if d.Machine != "" {
			s.Machine = &v1.Machine{Type: d.Machine}
		}
		plumbing := d.Plumbing
		if len(plumbing) == 0 {
			plumbing = l.plumbing // a launcher that does not report its wiring
		}
		s.Interfaces = statusInterfaces(plumbing, d)
	case launcherv1.DomainState_SHUTOFF:
		if d.Reason == "" || d.Reason == launcherv1.ReasonShutoffMigrated {
			// A shut-off domain with no reason never ran (libvirt gives every stop a
			// reason); the launcher does not report one, and it is no end of the guest.
			// Nor is a domain that migrated away: the guest runs on the target node.
			return
		}
		if d.Reason == "Crashed" || d.Reason == "Failed" {
			v1.FinishVMI(s, v1.Failed, "Guest"+d.Reason)
			r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, "Stopped", "The guest stopped: %s", d.Reason)
		} else {
			v1.FinishVMI(s, v1.Succeeded, "GuestShutdown")
			r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, "Stopped", "The guest stopped: %s", d.Reason)
		}
	case launcherv1.DomainState_CRASHED:
		v1.FinishVMI(s, v1.Failed, "GuestCrashed")
		r.Recorder.Event(vmi, k8sv1.EventTypeWarning, "Stopped", "The guest crashed")
	}
}

// statusInterfaces reports each interface with the address the outside reaches it at:
// for masquerade that is the pod's IP.
func statusInterfaces(plumbing []*launcherv1.InterfacePlumbing, d *launcherv1.DomainStatus) []v1.VirtualMachineInstanceNetworkInterface {
	byName := map[string]*launcherv1.GuestInterface{}
	for _, gi := range d.Interfaces {
		byName[gi.Name] = gi
	}
	var out []v1.VirtualMachineInstanceNetworkInterface
	for _, p := range plumbing {
		iface := v1.VirtualMachineInstanceNetworkInterface{Name: p.Name, MAC: p.Mac, InfoSource: "domain"}
		gi := byName[p.Name]
		if gi != nil && gi.Mac != "" {
			iface.MAC = gi.Mac
		}
		if gi != nil && gi.InterfaceName != "" {
			// The guest agent knows the interface's name inside the guest (KubeVirt's
			// infoSource "domain, guest-agent").
			iface.InterfaceName, iface.InfoSource = gi.InterfaceName, "domain, guest-agent"
		}
		if p.PodIp != "" {
			iface.IP, iface.IPs, iface.PodInterfaceName = p.PodIp, []string{p.PodIp}, "eth0"
		}
		out = append(out, iface)
	}
	return out
}

// setPhase moves the VMI to phase; reaching Running is an event.
func (r *Reconciler) setPhase(vmi *v1.VirtualMachineInstance, s *v1.VirtualMachineInstanceStatus, phase v1.VirtualMachineInstancePhase) {
	if v1.SetVMIPhase(s, phase) && phase == v1.Running {
		r.Recorder.Event(vmi, k8sv1.EventTypeNormal, "Started", "The guest is running")
	}
}

func (r *Reconciler) updateStatus(ctx context.Context, vmi *v1.VirtualMachineInstance, s *v1.VirtualMachineInstanceStatus) error {
	if equality.Semantic.DeepEqual(&vmi.Status, s) {
		return nil
	}
	// The optimistic lock: virt-controller writes the same status (its own conditions, the
	// phase until Scheduled), and a merge patch replaces whole lists, so a patch computed
	// from a stale read would undo its change. On a conflict Reconcile reads again.
	patch := client.MergeFromWithOptions(vmi.DeepCopy(), client.MergeFromWithOptimisticLock{})
	vmi.Status = *s
	return r.Status().Patch(ctx, vmi, patch)
}

// launcherPod finds the VMI's launcher pod on this node.
func (r *Reconciler) launcherPod(ctx context.Context, vmi *v1.VirtualMachineInstance) (*k8sv1.Pod, error) {
	pods := &k8sv1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(vmi.Namespace), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)}); err != nil {
		return nil, err
	}
	var found *k8sv1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Spec.NodeName != r.NodeName {
			continue
		}
		// Prefer a live pod over a finished one.
		if found == nil || (found.Status.Phase != k8sv1.PodRunning && p.Status.Phase == k8sv1.PodRunning) {
			found = p
		}
	}
	return found, nil
}

// connect returns the connection to the VMI's launcher, opening it (and its domain watch)
// the first time.
func (r *Reconciler) connect(ctx context.Context, vmi *v1.VirtualMachineInstance, pod *k8sv1.Pod) (*launcher, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.launchers[vmi.UID]; ok && l.podUID == pod.UID {
		return l, nil
	} else if ok {
		l.close()
		delete(r.launchers, vmi.UID)
	}
	socket := filepath.Join(launcherv1.SocketsDirOnNode(r.KubeletPodsDir, string(pod.UID)), launcherv1.CommandSocket)
	c, err := launcherclient.Dial(socket)
	if err != nil {
		return nil, err
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	l := &launcher{name: types.NamespacedName{Namespace: vmi.Namespace, Name: vmi.Name}, client: c, podUID: pod.UID, cancel: cancel}
	// A domain already running (virt-handler restarted) keeps its network: read it back.
	if vmi.Status.Phase == v1.Running {
		l.plumbing = plumbingFromStatus(vmi)
	}
	r.launchers[vmi.UID] = l
	go r.watch(watchCtx, l, vmi)
	return l, nil
}

// getVMI reads a VMI of this node, or one migrating to it.
func (r *Reconciler) getVMI(ctx context.Context, name types.NamespacedName) (*v1.VirtualMachineInstance, error) {
	vmi := &v1.VirtualMachineInstance{}
	err := r.Get(ctx, name, vmi)
	if apierrors.IsNotFound(err) && r.MigrationTargets != nil {
		err = r.MigrationTargets.Get(ctx, name, vmi)
	}
	return vmi, err
}

// plumbingFromStatus recovers what a previous virt-handler reported, so a restarted one
// keeps the VMI's interfaces as they are.
func plumbingFromStatus(vmi *v1.VirtualMachineInstance) []*launcherv1.InterfacePlumbing {
	var out []*launcherv1.InterfacePlumbing
	for _, i := range vmi.Status.Interfaces {
		out = append(out, &launcherv1.InterfacePlumbing{Name: i.Name, Mac: i.MAC, PodIp: i.IP})
	}
	return out
}

// watch turns the launcher's domain stream into reconciles of the VMI.
func (r *Reconciler) watch(ctx context.Context, l *launcher, vmi *v1.VirtualMachineInstance) {
	target := &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Namespace: vmi.Namespace, Name: vmi.Name}}
	for ctx.Err() == nil {
		stream, err := l.client.WatchDomain(ctx, &launcherv1.Empty{})
		if err == nil {
			for {
				if _, err = stream.Recv(); err != nil {
					break
				}
				r.changes <- event.GenericEvent{Object: target}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(launcherRetry):
			// The launcher exited or restarts: the pod's phase tells the rest.
			r.changes <- event.GenericEvent{Object: target}
		}
	}
}

// close ends the launcher's connection, domain watch and migration streams.
func (l *launcher) close() {
	l.cancel()
	l.client.Close()
	l.stopProxy()
}

func (r *Reconciler) forget(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.launchers[uid]; ok {
		l.close()
		delete(r.launchers, uid)
	}
}

// forgetByName drops the connection of a VMI that no longer exists.
func (r *Reconciler) forgetByName(name types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid, l := range r.launchers {
		if l.name == name {
			l.close()
			delete(r.launchers, uid)
		}
	}
}

// Running is a VMI this handler runs, as the console server needs it.
type Running struct {
	VMI *v1.VirtualMachineInstance
	// Launcher is the gRPC connection to its launcher.
	Launcher launcherv1.LauncherClient
	// SocketsDir is the launcher pod's sockets volume on this node (serial console, VNC).
	SocketsDir string
}

// Lookup finds a Running VMI on this node by name. It fails, saying why, when the VMI is
// not this node's or its guest is not running.
func (r *Reconciler) Lookup(ctx context.Context, name types.NamespacedName) (*Running, error) {
	vmi := &v1.VirtualMachineInstance{}
	if err := r.Get(ctx, name, vmi); err != nil {
		return nil, err
	}
	if vmi.Status.NodeName != r.NodeName || vmi.Status.Phase != v1.Running {
		return nil, fmt.Errorf("VMI %s is not running on node %s (phase %q)", name, r.NodeName, vmi.Status.Phase)
	}
	r.mu.Lock()
	l, ok := r.launchers[vmi.UID]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("VMI %s has no launcher connection yet; retry in a few seconds", name)
	}
	return &Running{
		VMI:        vmi,
		Launcher:   l.client,
		SocketsDir: launcherv1.SocketsDirOnNode(r.KubeletPodsDir, string(l.podUID)),
	}, nil
}

// StatsTargets are the VMIs whose launchers this handler is connected to, for the
// domain statistics a scrape asks for.
func (r *Reconciler) StatsTargets() []domainstats.Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	targets := make([]domainstats.Target, 0, len(r.launchers))
	for _, l := range r.launchers {
		c := l.client
		targets = append(targets, domainstats.Target{VMI: l.name, Stats: func(ctx context.Context) (*launcherv1.DomainStats, error) {
			return c.GetStats(ctx, &launcherv1.Empty{})
		}})
	}
	return targets
}
