package instancetype

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
)

// applyPreference fills in what the VMI leaves unset, in KubeVirt's order: CPU features,
// devices, features, firmware, machine, clock, subdomain, grace period, architecture,
// annotations. Where KubeVirt overrides (preferredAcpi, preferredDisableHotplug), so does
// this.
func applyPreference(pref *itv1.VirtualMachinePreferenceSpec, spec *v1.VirtualMachineInstanceSpec, meta *metav1.ObjectMeta) {
	domain := &spec.Domain
	if pref.CPU != nil && len(pref.CPU.PreferredCPUFeatures) > 0 {
		if domain.CPU == nil {
			domain.CPU = &v1.CPU{}
		}
		for _, f := range pref.CPU.PreferredCPUFeatures {
			if !hasCPUFeature(domain.CPU.Features, f.Name) {
				domain.CPU.Features = append(domain.CPU.Features, f)
			}
		}
	}
	if pref.Devices != nil {
		applyDevicePreferences(pref.Devices, spec)
	}
	if pref.Features != nil {
		applyFeaturePreferences(pref.Features, domain)
	}
	if pref.Firmware != nil {
		applyFirmwarePreferences(pref.Firmware, domain)
	}
	if pref.Machine != nil && pref.Machine.PreferredMachineType != "" {
		if domain.Machine == nil {
			domain.Machine = &v1.Machine{}
		}
		if domain.Machine.Type == "" {
			domain.Machine.Type = pref.Machine.PreferredMachineType
		}
	}
	if pref.Clock != nil {
		if pref.Clock.PreferredClockOffset != nil && (domain.Clock == nil || (domain.Clock.UTC == nil && domain.Clock.Timezone == nil)) {
			if domain.Clock == nil {
				domain.Clock = &v1.Clock{}
			}
			domain.Clock.ClockOffset = *pref.Clock.PreferredClockOffset.DeepCopy()
		}
		if pref.Clock.PreferredTimer != nil && (domain.Clock == nil || domain.Clock.Timer == nil) {
			if domain.Clock == nil {
				domain.Clock = &v1.Clock{}
			}
			domain.Clock.Timer = pref.Clock.PreferredTimer.DeepCopy()
		}
	}
	if pref.PreferredSubdomain != nil && spec.Subdomain == "" {
		spec.Subdomain = *pref.PreferredSubdomain
	}
	if pref.PreferredTerminationGracePeriodSeconds != nil && spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To(*pref.PreferredTerminationGracePeriodSeconds)
	}
	if pref.PreferredArchitecture != nil && spec.Architecture == "" {
		spec.Architecture = *pref.PreferredArchitecture
	}
	for k, val := range pref.Annotations {
		if _, ok := meta.Annotations[k]; !ok {
			if meta.Annotations == nil {
				meta.Annotations = map[string]string{}
			}
			meta.Annotations[k] = val
		}
	}
}

func hasCPUFeature(features []v1.CPUFeature, name string) bool {
	for _, f := range features {
		if f.Name == name {
			return true
		}
	}
	return false
}

func applyDevicePreferences(p *itv1.DevicePreferences, spec *v1.VirtualMachineInstanceSpec) {
	devices := &spec.Domain.Devices
	setBool := func(dst **bool, src *bool) {
		if *dst == nil && src != nil {
			*dst = ptr.To(*src)
		}
	}
	setBool(&devices.UseVirtioTransitional, p.PreferredUseVirtioTransitional)
	setBool(&devices.BlockMultiQueue, p.PreferredBlockMultiQueue)
	setBool(&devices.NetworkInterfaceMultiQueue, p.PreferredNetworkInterfaceMultiQueue)
	setBool(&devices.AutoattachGraphicsDevice, p.PreferredAutoattachGraphicsDevice)
	setBool(&devices.AutoattachMemBalloon, p.PreferredAutoattachMemBalloon)
	setBool(&devices.AutoattachPodInterface, p.PreferredAutoattachPodInterface)
	setBool(&devices.AutoattachSerialConsole, p.PreferredAutoattachSerialConsole)
	setBool(&devices.AutoattachInputDevice, p.PreferredAutoattachInputDevice)
	if p.PreferredDisableHotplug != nil {
		devices.DisableHotplug = *p.PreferredDisableHotplug
	}
	if p.PreferredRng != nil && devices.Rng == nil {
		devices.Rng = p.PreferredRng.DeepCopy()
	}

	// Every volume gets its disk first, as KubeVirt's VM controller adds them before it
	// applies a preference, so the preferred bus reaches disks the VM does not list.
	defaults.AddDisksForVolumes(spec)
	for i := range devices.Disks {
		d := &devices.Disks[i]
		switch {
		case d.CDRom != nil:
			if d.CDRom.Bus == "" {
				d.CDRom.Bus = p.PreferredCdromBus
			}
		case d.LUN != nil:
			if d.LUN.Bus == "" {
				d.LUN.Bus = p.PreferredLunBus
			}
		default:
			if d.Disk == nil {
				d.Disk = &v1.DiskTarget{}
			}
			if d.Disk.Bus == "" {
				d.Disk.Bus = p.PreferredDiskBus
			}
			if d.BlockSize == nil && p.PreferredDiskBlockSize != nil {
				d.BlockSize = p.PreferredDiskBlockSize.DeepCopy()
			}
			if d.Cache == "" {
				d.Cache = p.PreferredDiskCache
			}
			if d.IO == "" {
				d.IO = p.PreferredDiskIO
			}
			if d.DedicatedIOThread == nil && p.PreferredDiskDedicatedIoThread != nil && d.Disk.Bus == v1.DiskBusVirtio {
				d.DedicatedIOThread = ptr.To(*p.PreferredDiskDedicatedIoThread)
			}
		}
	}

	// The pod network's interface is added here when the VMI would get it by default, so
	// the preferred model and binding reach it too (KubeVirt adds it before applying).
	defaults.AddDefaultPodNetwork(spec)
	podNetworks := map[string]bool{}
	for _, n := range spec.Networks {
		podNetworks[n.Name] = n.Pod != nil
	}
	for i := range devices.Interfaces {
		iface := &devices.Interfaces[i]
		if iface.Model == "" {
			iface.Model = p.PreferredInterfaceModel
		}
		if p.PreferredInterfaceMasquerade != nil && !hasBinding(iface) && podNetworks[iface.Name] {
			iface.Masquerade = p.PreferredInterfaceMasquerade.DeepCopy()
		}
	}
	for i := range devices.Inputs {
		in := &devices.Inputs[i]
		if in.Bus == "" {
			in.Bus = p.PreferredInputBus
		}
		if in.Type == "" {
			in.Type = p.PreferredInputType
		}
	}
}

func hasBinding(iface *v1.Interface) bool {
	b := iface.InterfaceBindingMethod
	return b.Bridge != nil || b.Masquerade != nil || b.SRIOV != nil || b.Slirp != nil || b.Macvtap != nil ||
		b.Passt != nil || b.PasstBinding != nil || iface.Binding != nil
}

func applyFeaturePreferences(p *itv1.FeaturePreferences, domain *v1.DomainSpec) {
	if domain.Features == nil {
		domain.Features = &v1.Features{}
	}
	f := domain.Features
	if p.PreferredAcpi != nil {
		f.ACPI = *p.PreferredAcpi.DeepCopy()
	}
	if p.PreferredApic != nil && f.APIC == nil {
		f.APIC = p.PreferredApic.DeepCopy()
	}
	if p.PreferredKvm != nil && f.KVM == nil {
		f.KVM = p.PreferredKvm.DeepCopy()
	}
	if p.PreferredPvspinlock != nil && f.Pvspinlock == nil {
		f.Pvspinlock = p.PreferredPvspinlock.DeepCopy()
	}
	if p.PreferredSmm != nil && f.SMM == nil {
		f.SMM = p.PreferredSmm.DeepCopy()
	}
	if h := p.PreferredHyperv; h != nil {
		if f.Hyperv == nil {
			f.Hyperv = &v1.FeatureHyperv{}
		}
		mergeHyperv(f.Hyperv, h)
	}
}

// mergeHyperv copies each Hyper-V enlightenment the VMI leaves unset.
func mergeHyperv(dst, src *v1.FeatureHyperv) {
	state := func(d **v1.FeatureState, s *v1.FeatureState) {
		if *d == nil && s != nil {
			*d = s.DeepCopy()
		}
	}
	state(&dst.EVMCS, src.EVMCS)
	state(&dst.Frequencies, src.Frequencies)
	state(&dst.IPI, src.IPI)
	state(&dst.Reenlightenment, src.Reenlightenment)
	state(&dst.Relaxed, src.Relaxed)
	state(&dst.Reset, src.Reset)
	state(&dst.Runtime, src.Runtime)
	state(&dst.SyNIC, src.SyNIC)
	state(&dst.VAPIC, src.VAPIC)
	state(&dst.VPIndex, src.VPIndex)
	if dst.Spinlocks == nil && src.Spinlocks != nil {
		dst.Spinlocks = src.Spinlocks.DeepCopy()
	}
	if dst.SyNICTimer == nil && src.SyNICTimer != nil {
		dst.SyNICTimer = src.SyNICTimer.DeepCopy()
	}
	if dst.TLBFlush == nil && src.TLBFlush != nil {
		dst.TLBFlush = src.TLBFlush.DeepCopy()
	}
	if dst.VendorID == nil && src.VendorID != nil {
		dst.VendorID = src.VendorID.DeepCopy()
	}
}

func applyFirmwarePreferences(p *itv1.FirmwarePreferences, domain *v1.DomainSpec) {
	if domain.Firmware == nil {
		domain.Firmware = &v1.Firmware{}
	}
	if domain.Firmware.Bootloader == nil {
		domain.Firmware.Bootloader = &v1.Bootloader{}
	}
	b := domain.Firmware.Bootloader
	if p.PreferredUseBios != nil && *p.PreferredUseBios && b.BIOS == nil && b.EFI == nil {
		b.BIOS = &v1.BIOS{}
	}
	if p.PreferredUseBiosSerial != nil && b.BIOS != nil && b.BIOS.UseSerial == nil {
		b.BIOS.UseSerial = ptr.To(*p.PreferredUseBiosSerial)
	}
	if p.PreferredEfi != nil {
		if b.EFI == nil && b.BIOS == nil {
			b.EFI = p.PreferredEfi.DeepCopy()
		}
		return
	}
	if p.DeprecatedPreferredUseEfi != nil && *p.DeprecatedPreferredUseEfi && b.EFI == nil && b.BIOS == nil {
		b.EFI = &v1.EFI{}
	}
	if p.DeprecatedPreferredUseSecureBoot != nil && b.EFI != nil && b.EFI.SecureBoot == nil {
		b.EFI.SecureBoot = ptr.To(*p.DeprecatedPreferredUseSecureBoot)
	}
}
