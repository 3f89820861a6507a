package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

type alwaysLeading struct{}

func (alwaysLeading) Leading() bool { return true }

// value finds the one series of name whose labels include want; ok is false if none.
func value(families []*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.Metric {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			}
		}
	}
	return 0, false
}

// The VM series (info with vendor names, creation date, status transition, resources)
// and a VMI's launcher overhead, from objects in a fake cache: the functional test reads
// the VMI series on a cluster; these are the edge cases.
func TestCollectVMsAndVMIs(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{v1.AddToScheme, itv1.AddToScheme, k8sv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	created := metav1.NewTime(time.Unix(1_700_000_000, 0))
	ready := metav1.NewTime(time.Unix(1_700_000_100, 0))
	vm := &v1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm1", Namespace: "ns", CreationTimestamp: created},
		Spec: v1.VirtualMachineSpec{
			// The plural, any casing: KubeVirt accepts it, and it names the namespaced kind.
			Instancetype: &v1.InstancetypeMatcher{Name: "small", Kind: "VirtualMachineInstancetypes"},
			Preference:   &v1.PreferenceMatcher{Name: "someone-elses"},
			Template: &v1.VirtualMachineInstanceTemplateSpec{Spec: v1.VirtualMachineInstanceSpec{Domain: v1.DomainSpec{
				Resources: v1.ResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceMemory: resource.MustParse("128Mi")}},
				CPU:       &v1.CPU{Cores: 2},
			}}},
		},
		Status: v1.VirtualMachineStatus{
			PrintableStatus: v1.VirtualMachineStatusRunning,
			Conditions:      []v1.VirtualMachineCondition{{Type: v1.VirtualMachineReady, Status: k8sv1.ConditionTrue, LastTransitionTime: ready}},
		},
	}
	small := &itv1.VirtualMachineInstancetype{ObjectMeta: metav1.ObjectMeta{Name: "small", Namespace: "ns", Labels: map[string]string{itv1.VendorLabel: "kubevirt.io"}}}
	vmi := &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "vmi1", Namespace: "ns"},
		Spec: v1.VirtualMachineInstanceSpec{Domain: v1.DomainSpec{
			Resources: v1.ResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceMemory: resource.MustParse("1Gi")}},
		}},
		Status: v1.VirtualMachineInstanceStatus{Phase: v1.Running, NodeName: "node1"},
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(vm, small, vmi).Build()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&collector{reader: reader, leading: alwaysLeading{}, useEmulation: func(context.Context) bool { return true }})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}

	vmLabels := map[string]string{"name": "vm1", "namespace": "ns"}
	if _, ok := value(families, "kubevirt_vm_info", map[string]string{"name": "vm1", "instance_type": "small", "preference": "<other>", "status": "running", "status_group": "running"}); !ok {
		t.Error("kubevirt_vm_info: no series naming the kubevirt.io instance type and <other> for a preference that does not exist")
	}
	if v, _ := value(families, "kubevirt_vm_create_date_timestamp_seconds", vmLabels); v != float64(created.Unix()) {
		t.Errorf("create date %v, want %d", v, created.Unix())
	}
	if v, _ := value(families, "kubevirt_vm_running_status_last_transition_timestamp_seconds", vmLabels); v != float64(ready.Unix()) {
		t.Errorf("running status transition %v, want the Ready condition's %d", v, ready.Unix())
	}
	if v, ok := value(families, "kubevirt_vm_error_status_last_transition_timestamp_seconds", vmLabels); !ok || v != 0 {
		t.Errorf("error status transition %v (%v), want 0 for a group the VM is not in", v, ok)
	}
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"resource": "memory", "source": "domain"}, 128 << 20},
		{map[string]string{"resource": "memory", "source": "guest_effective"}, 128 << 20},
		{map[string]string{"resource": "cpu", "unit": "cores", "source": "domain"}, 2},
		{map[string]string{"resource": "cpu", "unit": "cores", "source": "guest_effective"}, 2},
	} {
		c.labels["name"] = "vm1"
		if v, ok := value(families, "kubevirt_vm_resource_requests", c.labels); !ok || v != c.want {
			t.Errorf("kubevirt_vm_resource_requests%v = %v (%v), want %v", c.labels, v, ok, c.want)
		}
	}
	if _, ok := value(families, "kubevirt_vm_resource_limits", vmLabels); ok {
		t.Error("kubevirt_vm_resource_limits reported for a VM without limits")
	}

	// The overhead is the launcher pod's, which virt-controller sized from the defaulted spec.
	defaulted := vmi.DeepCopy()
	defaults.SetVirtualMachineInstanceSpecDefaults(&defaulted.Spec)
	want := launcherv1.MemoryOverhead(defaulted, true)
	if v, _ := value(families, "kubevirt_vmi_launcher_memory_overhead_bytes", map[string]string{"name": "vmi1"}); v != float64(want.Value()) {
		t.Errorf("launcher overhead %v, want %d (the defaulted spec's)", v, want.Value())
	}
	if v, _ := value(families, "kubevirt_vmi_phase_count", map[string]string{"node": "node1", "phase": "running"}); v != 1 {
		t.Errorf("kubevirt_vmi_phase_count{node1,running} = %v, want 1", v)
	}
}

// countingReader counts the reads that reach it.
type countingReader struct {
	client.Reader
	gets int
}

func (r *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.gets++
	return r.Reader.Get(ctx, key, obj, opts...)
}

// A cluster instance type named by VMs of several namespaces is one object: a scrape
// reads it once.
func TestVendorNameOfAClusterKindIsReadOncePerScrape(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := itv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cit := &itv1.VirtualMachineClusterInstancetype{ObjectMeta: metav1.ObjectMeta{Name: "u1.small", Labels: map[string]string{itv1.VendorLabel: "kubevirt.io"}}}
	reader := &countingReader{Reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(cit).Build()}
	names := &vendorNames{reader: reader, ctx: context.Background(), known: map[string]string{}}
	for _, ns := range []string{"a", "b", "c"} {
		if got := names.instancetype(ns, map[string]string{v1.ClusterInstancetypeAnnotation: "u1.small"}); got != "u1.small" {
			t.Fatalf("namespace %s: label %q, want u1.small", ns, got)
		}
	}
	if reader.gets != 1 {
		t.Fatalf("%d reads of the cluster instance type, want 1", reader.gets)
	}
}

// The migration series from a fake cache: KubeVirt's grouping of the phases, the
// outcome gauges, and the VMI's migration times naming the migration ("<none>" once it is
// gone). The functional migration test reads them on a cluster.
func TestCollectMigrations(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	migration := func(name string, phase v1.VirtualMachineInstanceMigrationPhase) *v1.VirtualMachineInstanceMigration {
		return &v1.VirtualMachineInstanceMigration{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid")},
			Spec:       v1.VirtualMachineInstanceMigrationSpec{VMIName: "vmi-" + name},
			Status:     v1.VirtualMachineInstanceMigrationStatus{Phase: phase},
		}
	}
	started, ended := metav1.NewTime(time.Unix(1_700_000_000, 0)), metav1.NewTime(time.Unix(1_700_000_030, 0))
	moved := &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "vmi-done", Namespace: "ns"},
		Status: v1.VirtualMachineInstanceStatus{Phase: v1.Running, NodeName: "node2", MigrationState: &v1.VirtualMachineInstanceMigrationState{
			MigrationUID: "done-uid", StartTimestamp: &started, EndTimestamp: &ended, Completed: true,
		}},
	}
	orphan := &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "vmi-orphan", Namespace: "ns"},
		Status: v1.VirtualMachineInstanceStatus{Phase: v1.Running, NodeName: "node1", MigrationState: &v1.VirtualMachineInstanceMigrationState{
			MigrationUID: "deleted-uid", StartTimestamp: &started,
		}},
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		migration("new", v1.MigrationPhaseUnset), migration("waiting", v1.MigrationPending),
		migration("placing", v1.MigrationScheduling), migration("preparing", v1.MigrationPreparingTarget),
		migration("copying", v1.MigrationRunning), migration("done", v1.MigrationSucceeded),
		migration("broken", v1.MigrationFailed), moved, orphan).Build()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&collector{reader: reader, leading: alwaysLeading{}, useEmulation: func(context.Context) bool { return true }})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"kubevirt_vmi_migrations_in_unset_phase": 1, "kubevirt_vmi_migrations_in_pending_phase": 1,
		"kubevirt_vmi_migrations_in_scheduling_phase": 1, "kubevirt_vmi_migrations_in_running_phase": 2,
	} {
		if v, ok := value(families, name, nil); !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", name, v, ok, want)
		}
	}
	if v, ok := value(families, "kubevirt_vmi_migration_succeeded", map[string]string{"vmi": "vmi-done", "vmim": "done", "namespace": "ns"}); !ok || v != 1 {
		t.Errorf("kubevirt_vmi_migration_succeeded = %v (%v), want 1", v, ok)
	}
	if v, ok := value(families, "kubevirt_vmi_migration_failed", map[string]string{"vmi": "vmi-broken", "vmim": "broken"}); !ok || v != 1 {
		t.Errorf("kubevirt_vmi_migration_failed = %v (%v), want 1", v, ok)
	}
	if _, ok := value(families, "kubevirt_vmi_migration_succeeded", map[string]string{"vmim": "copying"}); ok {
		t.Error("a running migration reported as succeeded")
	}
	if v, _ := value(families, "kubevirt_vmi_migration_end_time_seconds", map[string]string{"node": "node2", "name": "vmi-done", "migration_name": "done", "status": "succeeded"}); v != float64(ended.Unix()) {
		t.Errorf("kubevirt_vmi_migration_end_time_seconds = %v, want %d", v, ended.Unix())
	}
	if v, _ := value(families, "kubevirt_vmi_migration_start_time_seconds", map[string]string{"name": "vmi-orphan", "migration_name": "<none>"}); v != float64(started.Unix()) {
		t.Errorf("kubevirt_vmi_migration_start_time_seconds of a VMI whose migration is gone = %v, want %d", v, started.Unix())
	}
	if _, ok := value(families, "kubevirt_vmi_migration_end_time_seconds", map[string]string{"name": "vmi-orphan"}); ok {
		t.Error("an end time for a migration that has not ended")
	}
}
