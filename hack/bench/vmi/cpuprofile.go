package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// clockTicks is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux).
const clockTicks = 100

// processTimes is the CPU time of the machine's processes at one moment, by process
// (pid and start time, so a reused pid is another process).
type processTimes map[processKey]processTime

type processKey struct {
	pid   int
	start uint64
}

type processTime struct {
	group string
	// self is the process's own user+system time; children is what it collected from
	// children it waited for (runc for containerd's shims, CNI plugins for containerd,
	// the QEMU capability probe for libvirtd), in seconds.
	self, children float64
}

// processGroups names a process by its command (/proc/<pid>/comm, at most 15 bytes):
// the parts of a VMI's start, from the API server to QEMU.
var processGroups = []struct{ prefix, group string }{
	{"etcd", "etcd"},
	{"kube-apiserver", "kube-apiserver"},
	{"kube-controller", "kube-controller-manager"},
	{"kube-scheduler", "kube-scheduler"},
	{"kubelet", "kubelet"},
	{"kube-proxy", "kube-proxy"},
	{"containerd-shim", "containerd-shim (and runc)"},
	{"containerd", "containerd (and CNI plugins)"},
	{"runc", "containerd-shim (and runc)"},
	{"virt-controller", "virt-controller"},
	{"virt-handler", "virt-handler"},
	{"virt-api", "virt-api"},
	{"virt-operator", "virt-operator"},
	{"virt-launcher", "virt-launcher"},
	{"libvirtd", "libvirtd (and QEMU's capability probe)"},
	{"qemu-system", "QEMU (the guests)"},
	{"coredns", "coredns"},
}

// groupOf is the group of a process: its command's, kernel threads as one, else other.
func groupOf(comm string, ppid int) string {
	for _, g := range processGroups {
		if strings.HasPrefix(comm, g.prefix) {
			return g.group
		}
	}
	if ppid == 2 || comm == "kthreadd" {
		return "kernel threads"
	}
	return "other"
}

// readProcessTimes reads every process's CPU times from /proc.
func readProcessTimes() processTimes {
	out := processTimes{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // exited since the glob
		}
		key, t, ok := parseStat(string(data))
		if ok {
			out[key] = t
		}
	}
	return out
}

// parseStat reads /proc/<pid>/stat: "pid (comm) state ppid ... utime stime cutime
// cstime ... starttime ...". comm may hold spaces and parentheses: it ends at the last ')'.
func parseStat(s string) (processKey, processTime, bool) {
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return processKey{}, processTime{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return processKey{}, processTime{}, false
	}
	comm := s[open+1 : closing]
	// Fields after comm, numbered as in proc(5) from 3 (state) to 22 (starttime).
	f := strings.Fields(s[closing+1:])
	if len(f) < 22-2 {
		return processKey{}, processTime{}, false
	}
	field := func(n int) float64 {
		v, _ := strconv.ParseFloat(f[n-3], 64)
		return v
	}
	start, _ := strconv.ParseUint(f[22-3], 10, 64)
	return processKey{pid: pid, start: start}, processTime{
		group:    groupOf(comm, int(field(4))),
		self:     (field(14) + field(15)) / clockTicks,
		children: (field(16) + field(17)) / clockTicks,
	}, true
}

// cpuByGroup is the CPU time each group spent between two readings: a process alive at
// both counts its growth, one started in between all of its time. A process that both
// started and ended in between counts only through the parent that waited for it.
func cpuByGroup(before, after processTimes) map[string]float64 {
	out := map[string]float64{}
	for key, a := range after {
		used := a.self + a.children
		if b, ok := before[key]; ok {
			used -= b.self + b.children
		}
		if used > 0 {
			out[a.group] += used
		}
	}
	return out
}

// perVMI divides each figure by the number of VMIs.
func perVMI(figures map[string]float64, vmis int) map[string]float64 {
	out := make(map[string]float64, len(figures))
	for k, v := range figures {
		out[k] = v / float64(vmis)
	}
	return out
}

// sum adds a map's figures.
func sum(figures map[string]float64) float64 {
	var total float64
	for _, v := range figures {
		total += v
	}
	return total
}

// printLargestFirst prints the figures at or above least, largest first.
func printLargestFirst(figures map[string]float64, least float64, format string) {
	keys := make([]string, 0, len(figures))
	for k := range figures {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return figures[keys[i]] > figures[keys[j]] })
	for _, k := range keys {
		if figures[k] >= least {
			fmt.Printf(format, k, figures[k])
		}
	}
}

// printCPUProfile prints each group's CPU-seconds per VMI, largest first, and what the
// processes do not account for of the machine's busy time per VMI (processes that
// ended with their parent, interrupts).
func printCPUProfile(byGroup map[string]float64, machineBusy float64) {
	fmt.Printf("  CPU-seconds per VMI start, by process (the burst, idle use included):\n")
	printLargestFirst(byGroup, 0.005, "    %-42s %6.3f\n")
	if rest := machineBusy - sum(byGroup); rest > 0 {
		fmt.Printf("    %-42s %6.3f\n", "not in any process's times", rest)
	}
}
