package vmi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-handler/domainstats"
	"github.com/hypernest/hypernest/components/virt-handler/migrationproxy"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
)

// MigrationTLS is the mutual TLS of the connections between the two nodes' handlers of
// a live migration (servingcert.Source: each node's own certificate).
type MigrationTLS interface {
	// MigrationServerConfig accepts only sourceNode's handler.
	MigrationServerConfig(sourceNode string) (*tls.Config, error)
	// MigrationClientConfig accepts only targetNode's handler.
	MigrationClientConfig(targetNode string) (*tls.Config, error)
}

// sourceSilence: how long the target waits, with the guest running here, for the source
// node's handler to report the migration complete before it takes the VMI over anyway.
// The source reports within a second (its launcher's domain watch); a minute covers a
// restarting handler.
const sourceSilence = time.Minute

// KubeVirt's reasons of the LiveMigratable condition.
const (
	reasonDisksNotMigratable     = "DisksNotLiveMigratable"
	reasonInterfaceNotMigratable = "InterfaceNotLiveMigratable"
)

// liveMigratable says whether the guest can move to another node, and if not why, in
// KubeVirt's words. The pod's local disks (containerDisk overlays, emptyDisks) move with
// the memory; a claim must be shared; a guest bridged to the pod network would take the
// pod's address along, which the target pod does not have.
func liveMigratable(vmi *v1.VirtualMachineInstance) (bool, string, string) {
	for _, vs := range vmi.Status.VolumeStatus {
		if info := vs.PersistentVolumeClaimInfo; info != nil && !slices.Contains(info.AccessModes, k8sv1.ReadWriteMany) {
			return false, reasonDisksNotMigratable, fmt.Sprintf("cannot migrate VMI: PVC %s is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)", info.ClaimName)
		}
	}
	for _, vol := range vmi.Spec.Volumes {
		if vol.HostDisk != nil {
			return false, reasonDisksNotMigratable, fmt.Sprintf("cannot migrate VMI: hostDisk volume %s is local to the node", vol.Name)
		}
	}
	for _, iface := range vmi.Spec.Domain.Devices.Interfaces {
		if _, allowed := vmi.Annotations[v1.AllowPodBridgeNetworkLiveMigrationAnnotation]; iface.Bridge != nil && !allowed {
			return false, reasonInterfaceNotMigratable, "cannot migrate VMI which does not use masquerade, bridge with kubevirt.io/allow-pod-bridge-network-live-migration VM annotation or a migratable plugin to connect to the pod network"
		}
	}
	return true, "", ""
}

// migrationTargetHere: the VMI moves to this node; its launcher here is to be prepared.
func (r *Reconciler) migrationTargetHere(vmi *v1.VirtualMachineInstance) bool {
	ms := vmi.Status.MigrationState
	return ms != nil && ms.TargetNode == r.NodeName && ms.SourceNode != r.NodeName &&
		vmi.Labels[v1.MigrationTargetNodeNameLabel] == r.NodeName && !vmi.Status.Phase.IsFinal()
}

// reconcileTarget prepares this node's target launcher of a live migration, listens for
// the source node's handler, and takes the VMI over once the guest runs here.
func (r *Reconciler) reconcileTarget(ctx context.Context, vmi *v1.VirtualMachineInstance) (ctrl.Result, error) {
	ms := vmi.Status.MigrationState
	if ms.Failed || vmi.DeletionTimestamp != nil {
		// virt-controller removes the target pod; nothing here carries the guest.
		r.forget(vmi.UID)
		return ctrl.Result{}, nil
	}
	pod := &k8sv1.Pod{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: vmi.Namespace, Name: ms.TargetPod}, pod); err != nil {
		return ctrl.Result{RequeueAfter: launcherRetry}, client.IgnoreNotFound(err)
	}
	if pod.Spec.NodeName != r.NodeName || pod.Status.Phase != k8sv1.PodRunning || pod.Labels[v1.CreatedByLabel] != string(vmi.UID) {
		return ctrl.Result{RequeueAfter: launcherRetry}, nil
	}
	l, err := r.connect(ctx, vmi, pod)
	if err != nil {
		return ctrl.Result{RequeueAfter: launcherRetry}, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	domain, err := l.client.GetDomain(callCtx, &launcherv1.Empty{})
	if err != nil {
		return ctrl.Result{RequeueAfter: launcherRetry}, nil
	}
	newStatus := vmi.Status.DeepCopy()
	nms := newStatus.MigrationState
	switch {
	case !domain.MigrationTarget && domain.State == launcherv1.DomainState_NO_DOMAIN:
		if err := r.prepareTarget(callCtx, vmi, pod, l); err != nil {
			r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, "PrepareTargetFailed", "Preparing the migration target pod %s failed: %v", pod.Name, err)
			return ctrl.Result{RequeueAfter: 10 * time.Second}, nil
		}
	case len(domain.Plumbing) > 0:
		l.plumbing = domain.Plumbing // prepared by this handler before it restarted
	}
	if l.proxy == nil || l.proxyUID != ms.MigrationUID {
		ports, err := r.listenForSource(vmi, pod, l)
		if err != nil {
			return ctrl.Result{}, err
		}
		nms.TargetNodeAddress, nms.TargetDirectMigrationNodePorts = r.NodeAddress, ports
		r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, "PreparingTarget", "Migration Target is listening at %s, on ports: %v", r.NodeAddress, portList(ports))
	}

	arrived := domain.State == launcherv1.DomainState_RUNNING ||
		(domain.State == launcherv1.DomainState_PAUSED && domain.Reason != launcherv1.ReasonPausedMigration)
	if domain.State != launcherv1.DomainState_NO_DOMAIN {
		nms.TargetNodeDomainDetected = true
	}
	if arrived && nms.TargetNodeDomainReadyTimestamp == nil {
		now := metav1.Now()
		nms.TargetNodeDomainReadyTimestamp = &now
	}
	if arrived && !nms.Completed && time.Since(nms.TargetNodeDomainReadyTimestamp.Time) > sourceSilence {
		// libvirt resumes the guest here only once the source handed it over, so it moved;
		// the source's handler (or node) is gone before it could say so.
		now := metav1.Now()
		nms.Completed, nms.EndTimestamp = true, &now
	}
	if !(arrived && nms.Completed && !nms.Failed) {
		// The source node's handler reports the outcome (Completed) from its libvirt.
		return ctrl.Result{RequeueAfter: min(resyncPeriod, sourceSilence)}, r.updateStatus(ctx, vmi, newStatus)
	}

	// The guest runs here and the source says it is done: the VMI is this node's now.
	newStatus.NodeName = r.NodeName
	newStatus.MigrationTransport = v1.MigrationTransportUnix
	if newStatus.EvacuationNodeName == ms.SourceNode {
		// Evacuated: the node being drained no longer holds the guest.
		newStatus.EvacuationNodeName = ""
	}
	r.applyDomain(vmi, pod, l, domain, newStatus)
	if err := r.updateStatus(ctx, vmi, newStatus); err != nil {
		return ctrl.Result{}, err
	}
	l.stopProxy()
	if err := r.ownLabels(ctx, vmi); err != nil {
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, "Migrated", "The VirtualMachineInstance migrated to node %s.", r.NodeName)
	return ctrl.Result{RequeueAfter: launcherRetry}, nil
}

// prepareTarget wires the target pod's network as for a start and has its launcher ready
// the disks and libvirt for the incoming domain.
func (r *Reconciler) prepareTarget(ctx context.Context, vmi *v1.VirtualMachineInstance, pod *k8sv1.Pod, l *launcher) error {
	req, err := r.syncRequest(ctx, vmi, pod, l)
	if err != nil {
		return err
	}
	res, err := l.client.PrepareMigrationTarget(ctx, req)
	if err != nil {
		return err
	}
	if !res.Ok {
		return errors.New(res.Message)
	}
	return nil
}

// listenForSource opens, for each stream of the migration, a TLS listener only the source
// node's handler may connect to, passing its connections to the target launcher: libvirt's
// to the launcher's libvirt daemon, the others to the sockets its QEMU listens on. It
// returns the ports, keyed as KubeVirt's targetDirectMigrationNodePorts.
func (r *Reconciler) listenForSource(vmi *v1.VirtualMachineInstance, pod *k8sv1.Pod, l *launcher) (map[string]int, error) {
	ms := vmi.Status.MigrationState
	if r.MigrationTLS == nil || r.NodeAddress == "" {
		return nil, errors.New("this virt-handler cannot receive migrations: it has no certificate source or no address (--pod-ip, from $POD_IP)")
	}
	config, err := r.MigrationTLS.MigrationServerConfig(ms.SourceNode)
	if err != nil {
		return nil, err
	}
	l.stopProxy()
	proxy := migrationproxy.New(r.Log.WithName("migration-proxy").WithValues("vmi", l.name))
	sockets := launcherv1.SocketsDirOnNode(r.KubeletPodsDir, string(pod.UID))
	ports := map[string]int{}
	for key, socket := range launcherv1.MigrationSockets {
		to := filepath.Join(sockets, socket)
		if key == launcherv1.MigrationLibvirtPort {
			to = filepath.Join(r.KubeletPodsDir, string(pod.UID), "volumes", "kubernetes.io~empty-dir", launcherv1.PrivateVolume, launcherv1.LibvirtSocket)
		}
		port, err := proxy.ListenTLS(net.JoinHostPort(r.NodeAddress, "0"), config, migrationproxy.UnixDialer(to))
		if err != nil {
			proxy.Close()
			return nil, err
		}
		ports[strconv.Itoa(port)] = mustAtoi(key)
	}
	l.proxy, l.proxyUID = proxy, ms.MigrationUID
	return ports, nil
}

// mustAtoi reads the keys of launcherv1.MigrationSockets, which are numbers.
func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(fmt.Sprintf("launcherv1.MigrationSockets key %q is no number", s))
	}
	return n
}

func portList(ports map[string]int) []string {
	var out []string
	for p := range ports {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// ownLabels labels the VMI as this node's and no longer a migration's target, so this
// handler's cache holds it from now on.
func (r *Reconciler) ownLabels(ctx context.Context, vmi *v1.VirtualMachineInstance) error {
	_, targeted := vmi.Labels[v1.MigrationTargetNodeNameLabel]
	if vmi.Labels[v1.NodeNameLabel] == r.NodeName && !targeted {
		return nil
	}
	patch := client.MergeFrom(vmi.DeepCopy())
	if vmi.Labels == nil {
		vmi.Labels = map[string]string{}
	}
	vmi.Labels[v1.NodeNameLabel] = r.NodeName
	delete(vmi.Labels, v1.MigrationTargetNodeNameLabel)
	return r.Patch(ctx, vmi, patch)
}

// syncMigrationSource runs this node's side of a VMI's live migration once the target
// listens: it joins the launcher's migration sockets to the target node's handler, starts
// the migration, aborts it when asked, and mirrors what the launcher reports into the
// VMI's migrationState (s), whose Completed or Failed ends it.
func (r *Reconciler) syncMigrationSource(ctx context.Context, vmi *v1.VirtualMachineInstance, pod *k8sv1.Pod, l *launcher, d *launcherv1.DomainStatus, s *v1.VirtualMachineInstanceStatus) error {
	ms := s.MigrationState
	if ms == nil || ms.SourceNode != r.NodeName || ms.MigrationUID == "" {
		l.stopProxy()
		return nil
	}
	lm := d.Migration
	if lm != nil && lm.Uid != string(ms.MigrationUID) {
		lm = nil // an earlier migration's record
	}
	if lm != nil {
		r.mirrorMigration(vmi, l, lm, s)
	}
	if ms.Completed || ms.Failed {
		l.stopProxy()
		return nil
	}
	if lm != nil {
		if ms.AbortRequested && ms.AbortStatus == "" {
			if _, err := l.client.CancelMigration(ctx, &launcherv1.Empty{}); err != nil {
				return fmt.Errorf("aborting the migration: %w", err)
			}
			ms.AbortStatus = v1.MigrationAbortInProgress
		}
		return nil
	}
	if ms.TargetNodeAddress == "" || ms.AbortRequested || d.State != launcherv1.DomainState_RUNNING && d.State != launcherv1.DomainState_PAUSED {
		return nil
	}
	if l.proxy != nil && l.proxyUID == ms.MigrationUID {
		// Started by an earlier pass: its record in the launcher shows up next.
		return nil
	}
	if err := r.connectToTarget(vmi, pod, l); err != nil {
		return err
	}
	// What virt-controller handed the migration (the cluster's settings or a
	// MigrationPolicy's); the cluster's for a migration handed over without them.
	settings := r.Config(ctx).Migration()
	if ms.MigrationConfiguration != nil {
		settings = clusterconfig.SettingsOf(ms.MigrationConfiguration)
	}
	req := &launcherv1.MigrateRequest{
		Uid:                    string(ms.MigrationUID),
		BandwidthMibPerSecond:  settings.BandwidthMiBPerSecond,
		ProgressTimeoutSeconds: settings.ProgressTimeout,
		AutoConverge:           settings.AllowAutoConverge,
	}
	if settings.CompletionTimeoutPerGiB > 0 {
		req.CompletionTimeoutSeconds = settings.CompletionTimeoutPerGiB * max(guestGiB(vmi), 1)
	}
	res, err := l.client.Migrate(ctx, req)
	if err != nil {
		return fmt.Errorf("starting the migration: %w", err)
	}
	if !res.Ok {
		now := metav1.Now()
		ms.Completed, ms.Failed, ms.EndTimestamp, ms.FailureReason = true, true, &now, res.Message
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, "Migrated", "VirtualMachineInstance migration uid %s failed. reason:%s", ms.MigrationUID, res.Message)
		l.stopProxy()
		return nil
	}
	r.Recorder.Event(vmi, k8sv1.EventTypeNormal, "Migrating", "VirtualMachineInstance is migrating.")
	return nil
}

// guestGiB is the guest's memory in whole GiB, rounded up.
func guestGiB(vmi *v1.VirtualMachineInstance) int64 {
	spec := vmi.Spec.DeepCopy()
	defaults.SetVirtualMachineInstanceSpecDefaults(spec)
	if m := spec.Domain.Memory; m != nil && m.Guest != nil {
		return (m.Guest.Value() + 1<<30 - 1) >> 30
	}
	return 1
}

// connectToTarget listens, in the source pod's sockets folder, on each stream's socket
// (as the launcher's user, whose libvirt and QEMU connect there) and passes each
// connection over mutual TLS to the target node's handler, at the port it published for
// that stream.
func (r *Reconciler) connectToTarget(vmi *v1.VirtualMachineInstance, pod *k8sv1.Pod, l *launcher) error {
	ms := vmi.Status.MigrationState
	if r.MigrationTLS == nil {
		return errors.New("this virt-handler cannot send migrations: it has no certificate source")
	}
	config, err := r.MigrationTLS.MigrationClientConfig(ms.TargetNode)
	if err != nil {
		return err
	}
	byKey := map[string]string{}
	for port, key := range ms.TargetDirectMigrationNodePorts {
		byKey[strconv.Itoa(key)] = port
	}
	l.stopProxy()
	proxy := migrationproxy.New(r.Log.WithName("migration-proxy").WithValues("vmi", l.name))
	sockets := launcherv1.SocketsDirOnNode(r.KubeletPodsDir, string(pod.UID))
	for key, socket := range launcherv1.MigrationSockets {
		port, ok := byKey[key]
		if !ok {
			proxy.Close()
			return fmt.Errorf("the target published no port for migration stream %s (targetDirectMigrationNodePorts %v)", key, ms.TargetDirectMigrationNodePorts)
		}
		dial := migrationproxy.TLSDialer(net.JoinHostPort(ms.TargetNodeAddress, port), config)
		if err := proxy.ListenUnix(filepath.Join(sockets, socket), launcherv1.LauncherUID, dial); err != nil {
			proxy.Close()
			return err
		}
	}
	l.proxy, l.proxyUID = proxy, ms.MigrationUID
	return nil
}

// mirrorMigration copies the launcher's record of the migration into the VMI's status s.
func (r *Reconciler) mirrorMigration(vmi *v1.VirtualMachineInstance, l *launcher, lm *launcherv1.MigrationStatus, s *v1.VirtualMachineInstanceStatus) {
	ms := s.MigrationState
	if t := parseTime(lm.StartTimestamp); t != nil && ms.StartTimestamp == nil {
		ms.StartTimestamp = t
		s.MigrationMethod, s.MigrationTransport = v1.LiveMigration, v1.MigrationTransportUnix
		if len(lm.CopiedDisks) > 0 {
			s.MigrationMethod = v1.BlockMigration
		}
	}
	if lm.Mode != "" {
		ms.Mode = v1.MigrationMode(lm.Mode)
	}
	if lm.AbortStatus != "" {
		ms.AbortStatus = v1.MigrationAbortStatus(lm.AbortStatus)
	}
	if !lm.Completed || ms.Completed {
		return
	}
	ms.Completed, ms.Failed, ms.FailureReason = true, lm.Failed, lm.FailureReason
	ms.EndTimestamp = parseTime(lm.EndTimestamp)
	if ms.EndTimestamp == nil {
		now := metav1.Now()
		ms.EndTimestamp = &now
	}
	if lm.Failed {
		r.Recorder.Eventf(vmi, k8sv1.EventTypeWarning, "Migrated", "VirtualMachineInstance migration uid %s failed. reason:%s", ms.MigrationUID, lm.FailureReason)
	} else if lm.DowntimeMilliseconds != nil && l.downtimeObserved != ms.MigrationUID {
		l.downtimeObserved = ms.MigrationUID
		domainstats.MigrationDowntime.WithLabelValues(r.NodeName).Observe(float64(*lm.DowntimeMilliseconds) / 1000)
	}
}

func parseTime(s string) *metav1.Time {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}

// migratedAway: the guest left this node in a migration that succeeded; the target
// node's handler takes the VMI over.
func (r *Reconciler) migratedAway(vmi *v1.VirtualMachineInstance) bool {
	ms := vmi.Status.MigrationState
	return ms != nil && ms.SourceNode == r.NodeName && ms.TargetNode != r.NodeName && ms.Completed && !ms.Failed
}

// stopProxy ends the migration connections this launcher's migration had.
func (l *launcher) stopProxy() {
	if l.proxy != nil {
		l.proxy.Close()
		l.proxy, l.proxyUID = nil, ""
	}
}
