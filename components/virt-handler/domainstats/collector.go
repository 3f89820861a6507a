// Package domainstats serves the resource use of this node's guests as KubeVirt's
// virt-handler does (pkg/monitoring/metrics/virt-handler/domainstats): at each scrape it
// asks every VMI's launcher for libvirt's statistics and reports them under KubeVirt's
// names, HELP texts and labels, in Prometheus's units (bytes, seconds).
package domainstats

import (
	"context"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// Target is one VMI whose launcher can be asked for statistics.
type Target struct {
	VMI   types.NamespacedName
	Stats func(ctx context.Context) (*launcherv1.DomainStats, error)
}

// Timeouts, KubeVirt's: a launcher gets 5 s to answer, a scrape waits 10 s in all (and
// Prometheus's default scrape timeout is 10 s); a launcher too slow is left out of this
// scrape, not waited for.
const (
	launcherTimeout = 5 * time.Second
	scrapeTimeout   = 10 * time.Second
)

// Collector is a Prometheus collector of the node's guests' statistics. It describes
// no fixed metrics: each series carries the VMI's own labels.
type Collector struct {
	Node    string
	Reader  client.Reader
	Targets func() []Target
}

// Describe sends nothing: the collector is unchecked, as its series' label names
// depend on the VMIs' labels.
func (c *Collector) Describe(chan<- *prometheus.Desc) {}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, t := range c.Targets() {
		wg.Go(func() {
			statsCtx, cancel := context.WithTimeout(ctx, launcherTimeout)
			defer cancel()
			stats, err := t.Stats(statsCtx)
			if err != nil {
				ctrl.Log.WithName("domainstats").V(1).Info("no statistics from the launcher", "vmi", t.VMI.String(), "error", err.Error())
				return
			}
			vmi := &v1.VirtualMachineInstance{}
			if err := c.Reader.Get(ctx, t.VMI, vmi); err != nil {
				return
			}
			emit(ch, c.baseLabels(vmi), stats)
			if job := stats.GetMigration(); job != nil {
				emitMigration(ch, prometheus.Labels{"node": c.Node, "namespace": vmi.Namespace, "name": vmi.Name}, job)
			}
		})
	}
	wg.Wait()
}

var invalidLabelChars = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// baseLabels are KubeVirt's labels of every domain statistic: the node, the VMI, and
// each label of the VMI as kubernetes_vmi_label_NAME.
func (c *Collector) baseLabels(vmi *v1.VirtualMachineInstance) prometheus.Labels {
	labels := prometheus.Labels{"node": c.Node, "namespace": vmi.Namespace, "name": vmi.Name}
	for k, v := range vmi.Labels {
		// KubeVirt leaves out empty labels; so does Prometheus's text format.
		if v != "" {
			labels["kubernetes_vmi_label_"+invalidLabelChars.ReplaceAllString(k, "_")] = v
		}
	}
	return labels
}

// emitter writes one VMI's series.
type emitter struct {
	ch   chan<- prometheus.Metric
	base prometheus.Labels
}

// send writes one series: the VMI's labels as the description's constant labels, extra
// (name, value pairs) as its variable labels.
func (e emitter) send(name, help string, kind prometheus.ValueType, value float64, extra ...string) {
	var keys, values []string
	for i := 0; i+1 < len(extra); i += 2 {
		keys, values = append(keys, extra[i]), append(values, extra[i+1])
	}
	e.ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, keys, e.base), kind, value, values...)
}

// kib is a KiB figure in bytes; ns a nanosecond figure in seconds.
func kib(v uint64) float64 { return float64(v) * 1024 }
func ns(v uint64) float64  { return float64(v) / 1e9 }

// memoryMetrics are the balloon's figures: gauges in KiB, served in bytes; counters
// (page faults) as counted.
var memoryMetrics = []struct {
	name, help string
	kind       prometheus.ValueType
	value      func(*launcherv1.DomainMemoryStats) *uint64
}{
	{"kubevirt_vmi_memory_available_bytes", "Amount of usable memory as seen by the domain. This value may not be accurate if a balloon driver is in use or if the guest OS does not initialize all assigned pages",
		prometheus.GaugeValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.AvailableKib }},
	{"kubevirt_vmi_memory_unused_bytes", "The amount of memory left completely unused by the system. Memory that is available but used for reclaimable caches should NOT be reported as free.",
		prometheus.GaugeValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.UnusedKib }},
	{"kubevirt_vmi_memory_cached_bytes", "The amount of memory that is being used to cache I/O and is available to be reclaimed, corresponds to the sum of `Buffers` + `Cached` + `SwapCached` in `/proc/meminfo`.",
		prometheus.GaugeValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.DiskCachesKib }},
	{"kubevirt_vmi_memory_swap_in_traffic_bytes", "The total amount of data read from swap space of the guest in bytes.",
		prometheus.GaugeValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.SwapInKib }},
	{"kubevirt_vmi_memory_swap_out_traffic_bytes", "The total amount of memory written out to swap space of the guest in bytes.",
		prometheus.GaugeValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.SwapOutKib }},
	{"kubevirt_vmi_memory_pgmajfault_total", "The number of page faults when disk IO was required. Page faults occur when a process makes a valid access to virtual memory that is not available. When servicing the page fault, if disk IO is required, it is considered as major fault.",
		prometheus.CounterValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.MajorFaults }},
	{"kubevirt_vmi_memory_pgminfault_total", "The number of other page faults, when disk IO was not required. Page faults occur when a process makes a valid access to virtual memory that is not available. When servicing the page fault, if disk IO is NOT required, it is considered as minor fault.",
		prometheus.CounterValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.MinorFaults }},
	{"kubevirt_vmi_memory_actual_balloon_bytes", "Current balloon size in bytes.",
		prometheus.GaugeValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.ActualBalloonKib }},
	{"kubevirt_vmi_memory_usable_bytes", "The amount of memory which can be reclaimed by balloon without pushing the guest system to swap, corresponds to 'Available' in /proc/meminfo.",
		prometheus.GaugeValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.UsableKib }},
	{"kubevirt_vmi_memory_domain_bytes", "The amount of memory in bytes allocated to the domain. The `memory` value in domain xml file.",
		prometheus.GaugeValue, func(m *launcherv1.DomainMemoryStats) *uint64 { return m.DomainKib }},
}

// vcpuStates are libvirt's vCPU states as KubeVirt labels them.
var vcpuStates = map[int32]string{0: "offline", 1: "running", 2: "blocked"}

func emit(ch chan<- prometheus.Metric, base prometheus.Labels, s *launcherv1.DomainStats) {
	e := emitter{ch: ch, base: base}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	some := func(v *uint64, send func(uint64)) {
		if v != nil {
			send(*v)
		}
	}

	if s.MemoryRssKib > 0 {
		e.send("kubevirt_vmi_memory_resident_bytes", "Resident set size of the process running the domain.", gauge, kib(s.MemoryRssKib))
	}
	if m := s.Memory; m != nil {
		for _, mm := range memoryMetrics {
			some(mm.value(m), func(v uint64) {
				if mm.kind == counter {
					e.send(mm.name, mm.help, counter, float64(v))
				} else {
					e.send(mm.name, mm.help, gauge, kib(v))
				}
			})
		}
	}

	e.send("kubevirt_vmi_cpu_usage_seconds_total", "Total CPU time spent in all modes (sum of both vcpu and hypervisor usage).", counter, ns(s.CpuTimeNanoseconds))
	some(s.CpuUserNanoseconds, func(v uint64) {
		e.send("kubevirt_vmi_cpu_user_usage_seconds_total", "Total CPU time spent in user mode.", counter, ns(v))
	})
	some(s.CpuSystemNanoseconds, func(v uint64) {
		e.send("kubevirt_vmi_cpu_system_usage_seconds_total", "Total CPU time spent in system mode.", counter, ns(v))
	})
	for _, v := range s.Vcpus {
		id := strconv.Itoa(int(v.Id))
		if v.TimeNanoseconds != nil && v.State != nil {
			state, ok := vcpuStates[*v.State]
			if !ok {
				state = "unknown"
			}
			e.send("kubevirt_vmi_vcpu_seconds_total", "Total amount of time spent in each state by each vcpu (cpu_time excluding hypervisor time). Where `id` is the vcpu identifier and `state` can be one of the following: [`OFFLINE`, `RUNNING`, `BLOCKED`].",
				counter, ns(*v.TimeNanoseconds), "id", id, "state", state)
		}
		some(v.WaitNanoseconds, func(w uint64) {
			e.send("kubevirt_vmi_vcpu_wait_seconds_total", "Amount of time spent by each vcpu while waiting on I/O.", counter, ns(w), "id", id)
		})
		some(v.DelayNanoseconds, func(d uint64) {
			e.send("kubevirt_vmi_vcpu_delay_seconds_total", "Amount of time spent by each vcpu waiting in the queue instead of running.", counter, ns(d), "id", id)
		})
	}

	for _, n := range s.Interfaces {
		nic := func(name, help string, v *uint64) {
			some(v, func(x uint64) { e.send(name, help, counter, float64(x), "interface", n.Name) })
		}
		nic("kubevirt_vmi_network_receive_bytes_total", "Total network traffic received in bytes.", n.RxBytes)
		nic("kubevirt_vmi_network_transmit_bytes_total", "Total network traffic transmitted in bytes.", n.TxBytes)
		nic("kubevirt_vmi_network_receive_packets_total", "Total network traffic received packets.", n.RxPackets)
		nic("kubevirt_vmi_network_transmit_packets_total", "Total network traffic transmitted packets.", n.TxPackets)
		nic("kubevirt_vmi_network_receive_errors_total", "Total network received error packets.", n.RxErrors)
		nic("kubevirt_vmi_network_transmit_errors_total", "Total network transmitted error packets.", n.TxErrors)
		nic("kubevirt_vmi_network_receive_packets_dropped_total", "The total number of rx packets dropped on vNIC interfaces.", n.RxDropped)
		nic("kubevirt_vmi_network_transmit_packets_dropped_total", "The total number of tx packets dropped on vNIC interfaces.", n.TxDropped)
		const trafficHelp = "[Deprecated] Total number of bytes sent and received."
		some(n.RxBytes, func(x uint64) {
			e.send("kubevirt_vmi_network_traffic_bytes_total", trafficHelp, counter, float64(x), "interface", n.Name, "type", "rx")
		})
		some(n.TxBytes, func(x uint64) {
			e.send("kubevirt_vmi_network_traffic_bytes_total", trafficHelp, counter, float64(x), "interface", n.Name, "type", "tx")
		})
	}

	for _, b := range s.Blocks {
		count := func(name, help string, v *uint64) {
			some(v, func(x uint64) { e.send(name, help, counter, float64(x), "drive", b.Name) })
		}
		seconds := func(name, help string, v *uint64) {
			some(v, func(x uint64) { e.send(name, help, counter, ns(x), "drive", b.Name) })
		}
		count("kubevirt_vmi_storage_iops_read_total", "Total number of I/O read operations.", b.ReadRequests)
		count("kubevirt_vmi_storage_iops_write_total", "Total number of I/O write operations.", b.WriteRequests)
		count("kubevirt_vmi_storage_read_traffic_bytes_total", "Total number of bytes read from storage.", b.ReadBytes)
		count("kubevirt_vmi_storage_write_traffic_bytes_total", "Total number of written bytes.", b.WriteBytes)
		seconds("kubevirt_vmi_storage_read_times_seconds_total", "Total time spent on read operations.", b.ReadTimeNanoseconds)
		seconds("kubevirt_vmi_storage_write_times_seconds_total", "Total time spent on write operations.", b.WriteTimeNanoseconds)
		count("kubevirt_vmi_storage_flush_requests_total", "Total storage flush requests.", b.FlushRequests)
		seconds("kubevirt_vmi_storage_flush_times_seconds_total", "Total time spent on cache flushing.", b.FlushTimeNanoseconds)
	}
}

// emitMigration serves the figures of the migration a guest of this node is sending,
// with KubeVirt's labels for them (node, namespace, name: not the VMI's own labels).
func emitMigration(ch chan<- prometheus.Metric, labels prometheus.Labels, job *launcherv1.MigrationJobStats) {
	e := emitter{ch: ch, base: labels}
	send := func(name, help string, kind prometheus.ValueType, v *uint64) {
		if v != nil {
			e.send(name, help, kind, float64(*v))
		}
	}
	send("kubevirt_vmi_migration_data_bytes_total", "The total Guest OS data to be migrated to the new VM.", prometheus.CounterValue, job.DataTotalBytes)
	send("kubevirt_vmi_migration_data_remaining_bytes", "The remaining guest OS data to be migrated to the new VM.", prometheus.GaugeValue, job.DataRemainingBytes)
	send("kubevirt_vmi_migration_data_processed_bytes", "The total Guest OS data processed and migrated to the new VM.", prometheus.GaugeValue, job.DataProcessedBytes)
	send("kubevirt_vmi_migration_dirty_memory_rate_bytes", "The rate of memory being dirty in the Guest OS.", prometheus.GaugeValue, job.DirtyRateBytesPerSecond)
	send("kubevirt_vmi_migration_memory_transfer_rate_bytes", "The rate at which the memory is being transferred.", prometheus.GaugeValue, job.MemoryBytesPerSecond)
}

// MigrationDowntime is KubeVirt's histogram of the guests' pauses at the switch-over of
// the live migrations this node sent, with its buckets (5 ms to 32 s).
var MigrationDowntime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "kubevirt_vmi_migration_downtime_seconds",
	Help:    "Histogram of the time, in seconds, a guest was paused during successful live migration cut-over.",
	Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32},
}, []string{"node"})
