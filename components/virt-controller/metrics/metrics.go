// Package metrics serves virt-controller's metrics under KubeVirt's names (KubeVirt's
// pkg/monitoring/metrics/virt-controller): the VMIs' and VMs' state read from the
// controller's cache at each scrape, and the time VMIs take from creation to each phase.
// Only the leader serves them, as in KubeVirt, so that a sum over the replicas counts
// each VMI once.
package metrics

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	pkginstancetype "github.com/hypernest/hypernest/pkg/instancetype"
	hnmetrics "github.com/hypernest/hypernest/pkg/metrics"
)

// phaseBuckets are KubeVirt's buckets for the phase transition histograms, in seconds
// (pkg/monitoring/metrics/virt-controller/perfscale_metrics.go): from half a second to
// an hour, dense where starts land.
var phaseBuckets = []float64{0.5, 1, 2, 5, 10, 20, 30, 40, 50, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600}

var (
	phaseFromCreation = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubevirt_vmi_phase_transition_time_from_creation_seconds",
		Help:    "Histogram of VM phase transitions duration from creation time in seconds.",
		Buckets: phaseBuckets,
	}, []string{"phase"})
	phaseBetween = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubevirt_vmi_phase_transition_time_seconds",
		Help:    "Histogram of VM phase transitions duration between different phases in seconds.",
		Buckets: phaseBuckets,
	}, []string{"phase", "last_phase"})
	phaseFromDeletion = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubevirt_vmi_phase_transition_time_from_deletion_seconds",
		Help:    "Histogram of VM phase transitions duration from deletion time in seconds.",
		Buckets: phaseBuckets,
	}, []string{"phase"})
)

// Leading says whether this replica holds the lease.
type Leading interface{ Leading() bool }

// Setup registers virt-controller's metrics and, on the elected replica, observes the
// VMIs' phase transitions. useEmulation says how the launcher pods' overhead is computed
// when the KubeVirt object does not say (the --use-emulation default).
func Setup(mgr manager.Manager, status Leading, useEmulation func(context.Context) bool) error {
	hnmetrics.Registry.MustRegister(phaseFromCreation, phaseBetween, phaseFromDeletion, migrationPhaseFromCreation)
	hnmetrics.Registry.MustRegister(&collector{reader: mgr.GetClient(), leading: status, useEmulation: useEmulation})
	if err := mgr.Add(onLeaderUpdates(mgr, &v1.VirtualMachineInstanceMigration{}, observeMigrationTransition)); err != nil {
		return err
	}
	return mgr.Add(onLeaderUpdates(mgr, &v1.VirtualMachineInstance{}, observeTransition))
}

// onLeaderUpdates is a runnable that, while this replica leads, calls observe with the
// old and new object of each update the cache sees of T's kind. Only the leader observes
// transitions, so that a histogram summed over the replicas counts each one once.
func onLeaderUpdates[T client.Object](mgr manager.Manager, kind T, observe func(old, updated T)) manager.Runnable {
	return hnmetrics.OnLeader(func(ctx context.Context) error {
		informer, err := mgr.GetCache().GetInformer(ctx, kind)
		if err != nil {
			return err
		}
		registration, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			UpdateFunc: func(oldObj, newObj any) {
				old, ok1 := oldObj.(T)
				updated, ok2 := newObj.(T)
				if ok1 && ok2 {
					observe(old, updated)
				}
			},
		})
		if err != nil {
			return err
		}
		<-ctx.Done()
		return informer.RemoveEventHandler(registration)
	})
}

// observeTransition records a VMI's change of phase, as KubeVirt does: the time from
// creation (and from the last phase, and from deletion for a VMI ending after it was
// deleted) to the new phase's transition timestamp, never below zero.
func observeTransition(old, vmi *v1.VirtualMachineInstance) {
	if old.Status.Phase == vmi.Status.Phase || vmi.Status.Phase == "" {
		return
	}
	to := transitionTime(vmi, vmi.Status.Phase)
	if to.IsZero() {
		return
	}
	phase := string(vmi.Status.Phase)
	phaseFromCreation.WithLabelValues(phase).Observe(seconds(vmi.CreationTimestamp.Time, to))
	from := vmi.CreationTimestamp.Time
	if old.Status.Phase != "" {
		from = transitionTime(vmi, old.Status.Phase)
	}
	if !from.IsZero() {
		phaseBetween.WithLabelValues(phase, string(old.Status.Phase)).Observe(seconds(from, to))
	}
	if vmi.DeletionTimestamp != nil && (vmi.Status.Phase == v1.Succeeded || vmi.Status.Phase == v1.Failed) {
		phaseFromDeletion.WithLabelValues(phase).Observe(seconds(vmi.DeletionTimestamp.Time, to))
	}
}

func transitionTime(vmi *v1.VirtualMachineInstance, phase v1.VirtualMachineInstancePhase) time.Time {
	for _, t := range vmi.Status.PhaseTransitionTimestamps {
		if t.Phase == phase {
			return t.PhaseTransitionTimestamp.Time
		}
	}
	return time.Time{}
}

func seconds(from, to time.Time) float64 {
	return max(to.Sub(from).Seconds(), 0)
}

var (
	vmiInfoDesc = prometheus.NewDesc("kubevirt_vmi_info", "Information about VirtualMachineInstances.",
		[]string{"node", "namespace", "name", "phase", "os", "workload", "flavor", "instance_type", "preference",
			"guest_os_kernel_release", "guest_os_machine", "guest_os_arch", "guest_os_name", "guest_os_version_id", "evictable", "outdated", "vmi_pod"}, nil)
	// kubevirt_vmi_phase_count is a recording rule over kubevirt_vmi_info in KubeVirt
	// today (node:kubevirt_vmi_phase:sum); it was this gauge before, and clusters
	// without KubeVirt's PrometheusRule still have dashboards that read it.
	vmiPhaseCountDesc = prometheus.NewDesc("kubevirt_vmi_phase_count",
		"Sum of VMIs per phase and node. `phase` can be one of the following: [`Pending`, `Scheduling`, `Scheduled`, `Running`, `Succeeded`, `Failed`, `Unknown`].",
		[]string{"node", "phase", "os", "workload", "flavor", "instance_type", "preference",
			"guest_os_kernel_release", "guest_os_machine", "guest_os_arch", "guest_os_name", "guest_os_version_id"}, nil)
	overheadDesc = prometheus.NewDesc("kubevirt_vmi_launcher_memory_overhead_bytes",
		"Estimation of the memory amount required for virt-launcher's infrastructure components (e.g. libvirt, QEMU).",
		[]string{"namespace", "name"}, nil)

	vmInfoDesc = prometheus.NewDesc("kubevirt_vm_info", "Information about Virtual Machines.",
		[]string{"name", "namespace", "os", "workload", "flavor", "machine_type", "instance_type", "preference", "status", "status_group"}, nil)
	vmCreatedDesc = prometheus.NewDesc("kubevirt_vm_create_date_timestamp_seconds", "Virtual Machine creation timestamp.",
		[]string{"name", "namespace"}, nil)
	vmRequestsDesc = prometheus.NewDesc("kubevirt_vm_resource_requests",
		"Resources requested by Virtual Machine. Reports memory and CPU requests.",
		[]string{"name", "namespace", "resource", "unit", "source"}, nil)
	vmLimitsDesc = prometheus.NewDesc("kubevirt_vm_resource_limits",
		"Resource limits set for a Virtual Machine. Reports CPU and memory limits only when they are defined.",
		[]string{"name", "namespace", "resource", "unit"}, nil)
	// One series per group and VM: the group the VM's printable status is in carries the
	// latest transition of its Ready, Failure and Paused conditions (-1 without any), the
	// others 0. KubeVirt declares them counters; so do we.
	vmStatusGroups = []string{"starting", "running", "migrating", "non_running", "error"}
	vmStatusDescs  = map[string]*prometheus.Desc{}
)

var vmStatusHelp = map[string]string{
	"starting":    "Virtual Machine last transition timestamp to starting status.",
	"running":     "Virtual Machine last transition timestamp to running status.",
	"migrating":   "Virtual Machine last transition timestamp to migrating status.",
	"non_running": "Virtual Machine last transition timestamp to paused/stopped status.",
	"error":       "Virtual Machine last transition timestamp to error status.",
}

func init() {
	for _, g := range vmStatusGroups {
		vmStatusDescs[g] = prometheus.NewDesc("kubevirt_vm_"+g+"_status_last_transition_timestamp_seconds", vmStatusHelp[g], []string{"name", "namespace"}, nil)
	}
}

// statusGroup is KubeVirt's grouping of printable statuses.
func statusGroup(s v1.VirtualMachinePrintableStatus) string {
	switch s {
	case v1.VirtualMachineStatusProvisioning, v1.VirtualMachineStatusStarting, v1.VirtualMachineStatusWaitingForVolumeBinding:
		return "starting"
	case v1.VirtualMachineStatusRunning:
		return "running"
	case v1.VirtualMachineStatusMigrating:
		return "migrating"
	case v1.VirtualMachineStatusStopped, v1.VirtualMachineStatusPaused, v1.VirtualMachineStatusStopping, v1.VirtualMachineStatusTerminating:
		return "non_running"
	}
	return "error"
}

// collector reads the cache at each scrape.
type collector struct {
	reader       client.Reader
	leading      Leading
	useEmulation func(context.Context) bool
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{vmiInfoDesc, vmiPhaseCountDesc, overheadDesc, vmInfoDesc, vmCreatedDesc, vmRequestsDesc, vmLimitsDesc} {
		ch <- d
	}
	for _, d := range vmStatusDescs {
		ch <- d
	}
	for _, d := range migrationDescs() {
		ch <- d
	}
}

// scrapeTimeout bounds one scrape's reads of the cache (which do not leave the process
// once its informers have synced); Prometheus's default scrape timeout is 10 s.
const scrapeTimeout = 5 * time.Second

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if !c.leading.Leading() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	log := ctrl.Log.WithName("metrics")
	names := &vendorNames{reader: c.reader, ctx: ctx, known: map[string]string{}}
	vmis := &v1.VirtualMachineInstanceList{}
	if err := c.reader.List(ctx, vmis); err != nil {
		log.Error(err, "listing VMIs for kubevirt_vmi_info")
	}
	pods := &k8sv1.PodList{}
	if err := c.reader.List(ctx, pods, client.HasLabels{v1.CreatedByLabel}); err != nil {
		log.Error(err, "listing launcher pods for kubevirt_vmi_info")
	}
	podOf := map[types.UID]string{}
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Status.Phase == k8sv1.PodRunning {
			podOf[types.UID(p.Labels[v1.CreatedByLabel])] = p.Name
		}
	}
	emulation := c.useEmulation(ctx)
	counts := map[[12]string]int{}
	for i := range vmis.Items {
		vmi := &vmis.Items[i]
		os, workload, flavor := vmi.Annotations[v1.OSAnnotation], vmi.Annotations[v1.WorkloadAnnotation], vmi.Annotations[v1.FlavorAnnotation]
		instancetype := names.instancetype(vmi.Namespace, vmi.Annotations)
		preference := names.preference(vmi.Namespace, vmi.Annotations)
		guest := vmi.Status.GuestOSInfo
		machine := ""
		if vmi.Status.Machine != nil {
			machine = vmi.Status.Machine.Type
		}
		phase := strings.ToLower(string(vmi.Status.Phase))
		ch <- prometheus.MustNewConstMetric(vmiInfoDesc, prometheus.GaugeValue, 1,
			vmi.Status.NodeName, vmi.Namespace, vmi.Name, phase, os, workload, flavor, instancetype, preference,
			guest.KernelRelease, machine, guest.Machine, guest.Name, guest.VersionID,
			strconv.FormatBool(evictable(vmi)), "false", podOf[vmi.UID])
		counts[[12]string{vmi.Status.NodeName, phase, os, workload, flavor, instancetype, preference,
			guest.KernelRelease, machine, guest.Machine, guest.Name, guest.VersionID}]++
		// As the launcher pod was sized. MemoryOverhead reads what the defaults would fill
		// in (one vCPU, the guest memory from the request) itself: no defaulted copy.
		overhead := launcherv1.MemoryOverhead(vmi, emulation)
		ch <- prometheus.MustNewConstMetric(overheadDesc, prometheus.GaugeValue, float64(overhead.Value()), vmi.Namespace, vmi.Name)
	}
	for labels, n := range counts {
		ch <- prometheus.MustNewConstMetric(vmiPhaseCountDesc, prometheus.GaugeValue, float64(n), labels[:]...)
	}
	c.collectMigrations(ctx, ch, vmis.Items)

	vms := &v1.VirtualMachineList{}
	if err := c.reader.List(ctx, vms); err != nil {
		log.Error(err, "listing VMs for kubevirt_vm_info")
	}
	for i := range vms.Items {
		c.collectVM(ch, &vms.Items[i], names)
	}
}

func (c *collector) collectVM(ch chan<- prometheus.Metric, vm *v1.VirtualMachine, names *vendorNames) {
	var os, workload, flavor, machineType string
	var domain *v1.DomainSpec
	if t := vm.Spec.Template; t != nil {
		os, workload, flavor = t.ObjectMeta.Annotations[v1.OSAnnotation], t.ObjectMeta.Annotations[v1.WorkloadAnnotation], t.ObjectMeta.Annotations[v1.FlavorAnnotation]
		domain = &t.Spec.Domain
		if domain.Machine != nil {
			machineType = domain.Machine.Type
		}
	}
	instancetype, preference := "", ""
	if m := vm.Spec.Instancetype; m != nil {
		if kind, err := pkginstancetype.InstancetypeKind(m.Kind); err == nil {
			instancetype = names.lookup(kind, vm.Namespace, m.Name)
		}
	}
	if m := vm.Spec.Preference; m != nil {
		if kind, err := pkginstancetype.PreferenceKind(m.Kind); err == nil {
			preference = names.lookup(kind, vm.Namespace, m.Name)
		}
	}
	status := vm.Status.PrintableStatus
	group := statusGroup(status)
	ch <- prometheus.MustNewConstMetric(vmInfoDesc, prometheus.GaugeValue, 1,
		vm.Name, vm.Namespace, os, workload, flavor, machineType, instancetype, preference, strings.ToLower(string(status)), group)
	if !vm.CreationTimestamp.IsZero() {
		ch <- prometheus.MustNewConstMetric(vmCreatedDesc, prometheus.GaugeValue, float64(vm.CreationTimestamp.Unix()), vm.Name, vm.Namespace)
	}
	last := float64(-1)
	for _, cond := range vm.Status.Conditions {
		switch cond.Type {
		case v1.VirtualMachineReady, v1.VirtualMachineFailure, v1.VirtualMachinePaused:
			if t := float64(cond.LastTransitionTime.Unix()); !cond.LastTransitionTime.IsZero() && t > last {
				last = t
			}
		}
	}
	for _, g := range vmStatusGroups {
		value := float64(0)
		if g == group {
			value = last
		}
		ch <- prometheus.MustNewConstMetric(vmStatusDescs[g], prometheus.CounterValue, value, vm.Name, vm.Namespace)
	}
	if domain != nil {
		collectResources(ch, vm, domain)
	}
}

// collectResources reports the VM's template as written (KubeVirt applies its instance
// type first; a VM with one reports the instance type's sizes through its VMI's pod).
func collectResources(ch chan<- prometheus.Metric, vm *v1.VirtualMachine, domain *v1.DomainSpec) {
	request := func(resource, unit, source string, value float64) {
		ch <- prometheus.MustNewConstMetric(vmRequestsDesc, prometheus.GaugeValue, value, vm.Name, vm.Namespace, resource, unit, source)
	}
	requests, limits := domain.Resources.Requests, domain.Resources.Limits
	if q, ok := requests[k8sv1.ResourceMemory]; ok {
		request("memory", "bytes", "domain", float64(q.Value()))
	}
	var guest float64
	if domain.Memory != nil && domain.Memory.Guest != nil {
		guest = float64(domain.Memory.Guest.Value())
		request("memory", "bytes", "guest", guest)
	}
	if guest == 0 {
		if q, ok := limits[k8sv1.ResourceMemory]; ok {
			guest = float64(q.Value())
		} else if q, ok := requests[k8sv1.ResourceMemory]; ok {
			guest = float64(q.Value())
		}
	}
	if guest > 0 {
		request("memory", "bytes", "guest_effective", guest)
	}
	cpuRequest, hasCPURequest := requests[k8sv1.ResourceCPU]
	if hasCPURequest {
		request("cpu", "cores", "requests", float64(cpuRequest.MilliValue())/1000)
	}
	effective := float64(1)
	if cpu := domain.CPU; cpu != nil {
		for unit, n := range map[string]uint32{"cores": cpu.Cores, "threads": cpu.Threads, "sockets": cpu.Sockets} {
			if n > 0 {
				request("cpu", unit, "domain", float64(n))
				effective *= float64(n)
			}
		}
	} else if !hasCPURequest {
		for _, unit := range []string{"cores", "threads", "sockets"} {
			request("cpu", unit, "default", 1)
		}
	}
	request("cpu", "cores", "guest_effective", effective)
	if q, ok := limits[k8sv1.ResourceMemory]; ok {
		ch <- prometheus.MustNewConstMetric(vmLimitsDesc, prometheus.GaugeValue, float64(q.Value()), vm.Name, vm.Namespace, "memory", "bytes")
	}
	if q, ok := limits[k8sv1.ResourceCPU]; ok {
		ch <- prometheus.MustNewConstMetric(vmLimitsDesc, prometheus.GaugeValue, float64(q.MilliValue())/1000, vm.Name, vm.Namespace, "cpu", "cores")
	}
}

// evictable is false for a VMI that must live-migrate to leave its node and cannot.
func evictable(vmi *v1.VirtualMachineInstance) bool {
	s := vmi.Spec.EvictionStrategy
	if s == nil || *s != v1.EvictionStrategyLiveMigrate {
		return true
	}
	c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceIsMigratable)
	return c != nil && c.Status == k8sv1.ConditionTrue
}

// vendorNames labels instance types and preferences as KubeVirt does, keeping the
// series few: the name of one KubeVirt or Red Hat publish (label
// instancetype.kubevirt.io/vendor), "<other>" for any other or a missing one.
type vendorNames struct {
	reader client.Reader
	ctx    context.Context
	known  map[string]string
}

// kubeVirtVendors are the vendors whose names KubeVirt reports.
var kubeVirtVendors = map[string]bool{"kubevirt.io": true, "redhat.com": true}

func (n *vendorNames) instancetype(namespace string, annotations map[string]string) string {
	if name := annotations[v1.InstancetypeAnnotation]; name != "" {
		return n.lookup(itv1.VirtualMachineInstancetypeKind, namespace, name)
	}
	if name := annotations[v1.ClusterInstancetypeAnnotation]; name != "" {
		return n.lookup(itv1.VirtualMachineClusterInstancetypeKind, namespace, name)
	}
	return ""
}

func (n *vendorNames) preference(namespace string, annotations map[string]string) string {
	if name := annotations[v1.PreferenceAnnotation]; name != "" {
		return n.lookup(itv1.VirtualMachinePreferenceKind, namespace, name)
	}
	if name := annotations[v1.ClusterPreferenceAnnotation]; name != "" {
		return n.lookup(itv1.VirtualMachineClusterPreferenceKind, namespace, name)
	}
	return ""
}

// lookup is the label for the instance type or preference of kind (canonical) named
// name, read once per scrape (a cluster kind once, whatever namespaces name it).
func (n *vendorNames) lookup(kind, namespace, name string) string {
	key := kind + "/" + pkginstancetype.Key(kind, namespace, name).String()
	if v, ok := n.known[key]; ok {
		return v
	}
	v := "<other>"
	obj, err := pkginstancetype.Get(n.ctx, n.reader, kind, namespace, name)
	if err == nil && kubeVirtVendors[obj.GetLabels()[itv1.VendorLabel]] {
		v = name
	} else if err != nil && !apierrors.IsNotFound(err) {
		ctrl.Log.WithName("metrics").V(1).Info("reading an instance type or preference for a metric label", "name", name, "error", err.Error())
	}
	n.known[key] = v
	return v
}
