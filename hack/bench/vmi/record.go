package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"k8s.io/utils/ptr"
)

// record is make bench's comparable result ($BENCH_OUT): its keys are stable, so runs
// of different dates and machines can be compared by a script. A figure not measured
// in a run is null, never 0.
type record struct {
	// VMIs created at once (the largest burst of paused guests), create -> Running:
	// from each create call to the watch event showing the VMI Running.
	CreateToRunningP50 *float64 `json:"vmi_create_to_running_p50_s"`
	CreateToRunningP95 *float64 `json:"vmi_create_to_running_p95_s"`
	CreateToRunningMax *float64 `json:"vmi_create_to_running_max_s"`
	// The same from virt-controller's kubevirt_vmi_phase_transition_time_from_creation_seconds
	// histogram (interpolated in its buckets, as Prometheus's histogram_quantile does).
	HistogramP50 *float64 `json:"vmi_create_to_running_histogram_p50_s"`
	HistogramP95 *float64 `json:"vmi_create_to_running_histogram_p95_s"`
	VMICount     int      `json:"vmi_count"`
	VMIsRunning  int      `json:"vmis_running"`
	// One VMI at a time: create -> Running, median.
	SingleCreateToRunning *float64 `json:"vmi_single_create_to_running_s"`
	// CPU time of the whole machine (every process: API server, controllers, kubelet,
	// containerd, runc, launchers, libvirt, QEMU) during the burst, less the idle
	// cluster's rate, per VMI.
	CPUSecondsPerVMIStart *float64 `json:"cpu_s_per_vmi_start"`
	// The same burst's CPU time by process group (etcd, kube-apiserver, kubelet,
	// containerd and the CNI plugins it ran, the shims and runc, virt-*, libvirtd, QEMU,
	// kernel threads, ...) per VMI, the idle cluster's use included.
	CPUSecondsPerVMIByProcess map[string]float64 `json:"cpu_s_per_vmi_start_by_process"`
	// What each Running VMI of that burst costs at rest, in CPU-millicores: the machine's
	// busy rate over 20 s after the burst, less the idle cluster's, per VMI; and by
	// process group, the idle cluster's use included.
	MillicoresPerRunningVMI          *float64           `json:"cpu_millicores_per_running_vmi"`
	MillicoresPerRunningVMIByProcess map[string]float64 `json:"cpu_millicores_per_running_vmi_by_process"`
	// The API server's write requests (create, update, patch, delete; every client's,
	// events included) during the burst, per VMI.
	APIWritesPerVMIStart *float64 `json:"api_writes_per_vmi_start"`
	// Launcher pod working set less guest memory, one VMI at a time after its boot.
	OverheadMiBMean *float64 `json:"overhead_mib_mean"`
	OverheadMiBMax  *float64 `json:"overhead_mib_max"`
	// What the launcher pod reserves above guest memory (its memory request).
	ReservedOverheadMiB *float64 `json:"reserved_overhead_mib"`
	// Kernel OOM kills on the machine during the run (/proc/vmstat oom_kill).
	OOMKills *int64 `json:"oom_kills"`
	// KWOK: VMIs virt-controller scheduled on fake nodes (launcher pod bound and
	// running, VMI Scheduled), and how long from the first create until the last was;
	// when not all were within the 15 min limit, how many were, and the limit.
	KWOKVMIs       *int     `json:"kwok_vmis"`
	KWOKScheduledS *float64 `json:"kwok_scheduled_s"`
	KWOKNodes      *int     `json:"kwok_nodes"`
	// Until KWOK's stage had set them all Running (what KubeVirt's density test waits for).
	KWOKRunningS *float64 `json:"kwok_running_s"`
	// virt-controller's CPU time during the density run, and its memory after it.
	KWOKControllerCPUS *float64 `json:"kwok_virt_controller_cpu_s"`
	KWOKControllerRSS  *float64 `json:"kwok_virt_controller_rss_mib"`
	ControllerRSS      *float64 `json:"controller_rss_mib"`
	ClusterUpWarmS     *float64 `json:"cluster_up_warm_s"`
	Emulated           bool     `json:"emulated"`
	Date               string   `json:"date"`
	Machine            string   `json:"machine"`
	Cores              int      `json:"cores"`
	LoadAverage        string   `json:"load_average_at_start"`
	BootingBurstP50    *float64 `json:"booting_burst_create_to_running_p50_s"`
	BootingBurstN      int      `json:"booting_burst_vmis"`
	// Live migrations of the booted demo guest between two nodes (--migrations): from
	// the create call to the migration object showing Succeeded, and the guest's pause
	// at the switch-over in milliseconds (QEMU's figure, from virt-handler's
	// kubevirt_vmi_migration_downtime_seconds).
	Migrations           *int     `json:"migrations"`
	MigrationP50         *float64 `json:"migration_time_p50_s"`
	MigrationMax         *float64 `json:"migration_time_max_s"`
	MigrationDowntimeP50 *float64 `json:"migration_downtime_p50_ms"`
	MigrationDowntimeMax *float64 `json:"migration_downtime_max_ms"`
}

func (r *record) write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// machineName is the CPU model, its cores and memory: what a figure was measured on.
func machineName() string {
	model := runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var memKiB int64
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				memKiB, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %.0f GiB", model, runtime.NumCPU(), float64(memKiB)/(1<<20))
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}

// busyCPUSeconds is the machine's CPU time spent outside idle and I/O wait since boot
// (/proc/stat, in the kernel's USER_HZ ticks of 1/100 s).
func busyCPUSeconds() (float64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var busy float64
		for i, v := range f[1:] {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			// idle (4th) and iowait (5th) are not work, nor is steal (8th: other
			// tenants' time on a virtual machine); guest time is already in user.
			if i == 3 || i == 4 || i >= 7 {
				continue
			}
			busy += n
		}
		return busy / clockTicks, nil
	}
	return 0, fmt.Errorf("/proc/stat has no cpu line")
}

// busyCPURate is the machine's busy CPU-seconds per second over a window: with nothing
// being created, the idle cluster's background, subtracted from a burst's CPU time.
func busyCPURate(over time.Duration) (float64, error) {
	before, err := busyCPUSeconds()
	if err != nil {
		return 0, err
	}
	time.Sleep(over)
	after, err := busyCPUSeconds()
	if err != nil {
		return 0, err
	}
	return (after - before) / over.Seconds(), nil
}

// steadyUse is what n Running VMIs cost the machine at rest, over steadyWindow: its busy
// CPU rate less the idle cluster's, and each process group's rate, in millicores per VMI.
// nil when /proc/stat cannot be read.
func steadyUse(n int, idleRate float64) (*float64, map[string]float64) {
	procsBefore := readProcessTimes()
	rate, err := busyCPURate(steadyWindow)
	if err != nil {
		return nil, nil
	}
	byProcess := cpuByGroup(procsBefore, readProcessTimes())
	// CPU-seconds over the window to millicores.
	for k := range byProcess {
		byProcess[k] *= 1000 / steadyWindow.Seconds()
	}
	return ptr.To(max(rate-idleRate, 0) * 1000 / float64(n)), perVMI(byProcess, n)
}

// oomKills is the kernel's count of OOM kills since boot.
func oomKills() (int64, error) {
	data, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/vmstat has no oom_kill")
}

// podRSS sums the resident memory of every process in the pod's cgroups (v1 memory
// hierarchy, as on this host).
func podRSS(podUID string) (int64, error) {
	dir, err := podMemoryCgroup(podUID)
	if err != nil {
		return 0, err
	}
	var total int64
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, pid := range strings.Fields(string(data)) {
			status, err := os.ReadFile("/proc/" + pid + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(status), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
					kib, _ := strconv.ParseInt(f[1], 10, 64)
					total += kib * 1024
				}
			}
		}
		return nil
	})
	return total, err
}

// podMemoryCgroup is the pod's folder in the v1 memory hierarchy (this host's): under
// kubepods for Guaranteed pods, under its QoS class's folder for the others.
func podMemoryCgroup(podUID string) (string, error) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/memory/kubepods*/pod" + podUID)
	more, _ := filepath.Glob("/sys/fs/cgroup/memory/kubepods*/*/pod" + podUID)
	dirs = append(dirs, more...)
	if len(dirs) == 0 {
		return "", fmt.Errorf("no memory cgroup for pod %s", podUID)
	}
	return dirs[0], nil
}
