package domainstats

import (
	"context"
	"errors"
	"maps"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

func u64(v uint64) *uint64 { return &v }
func i32(v int32) *int32   { return &v }

func TestCollect(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	vmi := &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "vm1", Labels: map[string]string{"kubevirt.io/vm": "vm1", "app": ""}}}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(vmi).Build()
	stats := &launcherv1.DomainStats{
		CpuTimeNanoseconds: 2_500_000_000, MemoryRssKib: 1000,
		CpuUserNanoseconds: u64(1_000_000_000),
		Memory:             &launcherv1.DomainMemoryStats{DomainKib: u64(131072), MajorFaults: u64(7)},
		Vcpus:              []*launcherv1.VCPUStats{{Id: 0, State: i32(1), TimeNanoseconds: u64(500_000_000)}},
		Interfaces:         []*launcherv1.InterfaceStats{{Name: "default", RxBytes: u64(42)}},
		Blocks:             []*launcherv1.BlockStats{{Name: "containerdisk", ReadRequests: u64(9), ReadTimeNanoseconds: u64(3_000_000)}},
		Migration:          &launcherv1.MigrationJobStats{DataTotalBytes: u64(300 << 20), DataRemainingBytes: u64(100 << 20), MemoryBytesPerSecond: u64(1 << 20)},
	}
	c := &Collector{Node: "node1", Reader: reader, Targets: func() []Target {
		return []Target{
			{VMI: types.NamespacedName{Namespace: "ns", Name: "vm1"}, Stats: func(context.Context) (*launcherv1.DomainStats, error) { return stats, nil }},
			// A launcher that does not answer is left out, not an error of the scrape.
			{VMI: types.NamespacedName{Namespace: "ns", Name: "gone"}, Stats: func(context.Context) (*launcherv1.DomainStats, error) { return nil, errors.New("closed") }},
		}
	}}
	registry := prometheus.NewRegistry()
	registry.MustRegister(c)
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.Metric{}
	for _, f := range families {
		if len(f.Metric) != 1 {
			t.Errorf("%s: %d series, want 1", f.GetName(), len(f.Metric))
		}
		got[f.GetName()] = f.Metric[0]
	}
	value := func(m *dto.Metric) float64 {
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	for name, want := range map[string]float64{
		"kubevirt_vmi_cpu_usage_seconds_total":              2.5,
		"kubevirt_vmi_cpu_user_usage_seconds_total":         1,
		"kubevirt_vmi_memory_resident_bytes":                1000 * 1024,
		"kubevirt_vmi_memory_domain_bytes":                  128 << 20,
		"kubevirt_vmi_memory_pgmajfault_total":              7,
		"kubevirt_vmi_vcpu_seconds_total":                   0.5,
		"kubevirt_vmi_network_receive_bytes_total":          42,
		"kubevirt_vmi_storage_iops_read_total":              9,
		"kubevirt_vmi_storage_read_times_seconds_total":     0.003,
		"kubevirt_vmi_network_traffic_bytes_total":          42,
		"kubevirt_vmi_migration_data_bytes_total":           300 << 20,
		"kubevirt_vmi_migration_data_remaining_bytes":       100 << 20,
		"kubevirt_vmi_migration_memory_transfer_rate_bytes": 1 << 20,
	} {
		m, ok := got[name]
		if !ok {
			t.Errorf("%s: missing", name)
			continue
		}
		if v := value(m); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	for _, absent := range []string{"kubevirt_vmi_cpu_system_usage_seconds_total", "kubevirt_vmi_memory_unused_bytes", "kubevirt_vmi_network_transmit_bytes_total", "kubevirt_vmi_migration_dirty_memory_rate_bytes"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s: served though libvirt did not report it", absent)
		}
	}
	labels := map[string]string{}
	for _, l := range got["kubevirt_vmi_vcpu_seconds_total"].Label {
		labels[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"node": "node1", "namespace": "ns", "name": "vm1", "kubernetes_vmi_label_kubevirt_io_vm": "vm1", "id": "0", "state": "running"}
	if len(labels) != len(want) {
		t.Errorf("labels %v, want %v (an empty VMI label is left out)", labels, want)
	}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, labels[k], v)
		}
	}
	migrationLabels := map[string]string{}
	for _, l := range got["kubevirt_vmi_migration_data_remaining_bytes"].GetLabel() {
		migrationLabels[l.GetName()] = l.GetValue()
	}
	if want := map[string]string{"node": "node1", "namespace": "ns", "name": "vm1"}; !maps.Equal(migrationLabels, want) {
		t.Errorf("migration labels %v, want KubeVirt's %v", migrationLabels, want)
	}
}
