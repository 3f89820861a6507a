package launcherv1

import (
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/validation"
)

// The memory a launcher pod needs beyond the guest's own RAM. virt-controller adds it to
// the pod's memory request, so the scheduler reserves it and the launcher is not
// OOM-killed (KubeVirt users' most-raised complaint). Each term is the resident size
// measured for that process in a launcher pod on this project's CI machine (make bench
// reports the measured working set against this reservation), rounded up. There is no
// virtlogd term: the launcher configures QEMU to write its own log.
const (
	// launcherProcessOverhead: virt-launcher itself (Go, gRPC, libvirt client, DHCP);
	// measured 39 MiB resident with a running guest.
	launcherProcessOverhead = 40 << 20
	// libvirtdOverhead: the session libvirtd; measured 29 MiB.
	libvirtdOverhead = 30 << 20
	// qemuOverhead: QEMU's own memory besides guest RAM and the TCG cache: code (22 MiB
	// of mapped files measured), device models, the 16 MiB VGA buffer, I/O buffers.
	qemuOverhead = 60 << 20
	// perVCPUOverhead: each vCPU thread's stack and state (KubeVirt counts 8 MiB).
	perVCPUOverhead = 8 << 20
)

// The translation-block cache QEMU's TCG keeps under emulation (no KVM): translated guest
// code. Sized by the guest's memory, as QEMU sized it before 5.0 (a quarter of guest RAM),
// within bounds. Too small a cache is flushed and refilled over and over: a kubeadm control
// plane in a 2 GiB guest with a fixed 32 MiB cache flushed it 1.6 times a second (QEMU's
// `info jit`: 1727 flushes in 18 min) and its API server never served. Too large a one
// would dwarf a small guest; QEMU 7.2's own default, 1 GiB for every guest, would.
const (
	// TCGCacheMinMiB: the demo and Debian guests of 128-256 MiB boot with no visible
	// slowdown with 32 MiB (measured in ../shared/recipes/virt).
	TCGCacheMinMiB = 32
	// TCGCacheMaxMiB: QEMU 7.2's default, the most it gives any guest.
	TCGCacheMaxMiB = 1024
)

// TCGTranslationCacheMiB is the translation-block cache a guest with this much memory
// gets under emulation.
func TCGTranslationCacheMiB(spec *v1.DomainSpec) int64 {
	size := int64(TCGCacheMinMiB)
	if guest := validation.GuestMemory(spec); guest != nil {
		size = guest.Value() / 4 >> 20
	}
	return min(max(size, TCGCacheMinMiB), TCGCacheMaxMiB)
}

// MemoryOverhead is the memory a launcher pod needs on top of the guest's memory.
func MemoryOverhead(vmi *v1.VirtualMachineInstance, useEmulation bool) resource.Quantity {
	total := int64(launcherProcessOverhead + libvirtdOverhead + qemuOverhead)
	vcpus := int64(1)
	if cpu := vmi.Spec.Domain.CPU; cpu != nil {
		vcpus = int64(max(cpu.Sockets, 1) * max(cpu.Cores, 1) * max(cpu.Threads, 1))
	}
	total += vcpus * perVCPUOverhead
	if useEmulation {
		total += TCGTranslationCacheMiB(&vmi.Spec.Domain) << 20
	}
	// Page tables for the guest's RAM: 1/512 of it (KubeVirt's estimate).
	if guest := validation.GuestMemory(&vmi.Spec.Domain); guest != nil {
		total += guest.Value() / 512
	}
	return *resource.NewQuantity(total, resource.BinarySI)
}
