// Package defaults fills in what a VirtualMachineInstance spec leaves out, the way
// KubeVirt's mutating webhook does: virt-api applies it before the VMI is stored, and
// virt-launcher again before converting a spec, so both see the same complete spec.
package defaults

import (
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// DefaultMachineType is the machine type of a guest that names none (KubeVirt's default).
const DefaultMachineType = "q35"

// DefaultNetworkName is the name of the pod network and interface added to a VMI that
// declares none (KubeVirt adds the same).
const DefaultNetworkName = "default"

// SetVirtualMachineInstanceSpecDefaults completes spec in place, with Hypernest's default
// binding for interfaces that name none: masquerade. KubeVirt's is bridge unless its
// KubeVirt object says otherwise (spec.configuration.network.defaultNetworkInterface);
// Hypernest chose masquerade, what KubeVirt's documentation recommends, and follows
// the same setting (SetVirtualMachineInstanceSpecDefaultsFor).
func SetVirtualMachineInstanceSpecDefaults(spec *v1.VirtualMachineInstanceSpec) {
	SetVirtualMachineInstanceSpecDefaultsFor(spec, BindingMasquerade)
}

// Binding names of spec.configuration.network.defaultNetworkInterface.
const (
	BindingBridge     = "bridge"
	BindingMasquerade = "masquerade"
)

// SetVirtualMachineInstanceSpecDefaultsFor completes spec in place; an interface that
// names no binding gets defaultBinding (bridge or masquerade; anything else masquerade).
func SetVirtualMachineInstanceSpecDefaultsFor(spec *v1.VirtualMachineInstanceSpec, defaultBinding string) {
	domain := &spec.Domain
	if domain.Machine == nil {
		domain.Machine = &v1.Machine{}
	}
	if domain.Machine.Type == "" {
		domain.Machine.Type = DefaultMachineType
	}
	if domain.Memory == nil {
		domain.Memory = &v1.Memory{}
	}
	if domain.Memory.Guest == nil {
		if req, ok := domain.Resources.Requests[k8sv1.ResourceMemory]; ok {
			domain.Memory.Guest = ptr.To(req.DeepCopy())
		}
	}
	// And the other way round: a guest size with no request asks the scheduler for it.
	if domain.Memory.Guest != nil {
		if _, ok := domain.Resources.Requests[k8sv1.ResourceMemory]; !ok {
			if domain.Resources.Requests == nil {
				domain.Resources.Requests = k8sv1.ResourceList{}
			}
			domain.Resources.Requests[k8sv1.ResourceMemory] = domain.Memory.Guest.DeepCopy()
		}
	}
	if domain.CPU == nil {
		domain.CPU = &v1.CPU{}
	}
	if domain.CPU.Sockets == 0 {
		domain.CPU.Sockets = 1
	}
	if domain.CPU.Cores == 0 {
		domain.CPU.Cores = 1
	}
	if domain.CPU.Threads == 0 {
		domain.CPU.Threads = 1
	}

	AddDisksForVolumes(spec)
	for i := range domain.Devices.Disks {
		d := &domain.Devices.Disks[i]
		switch {
		case d.CDRom != nil:
			if d.CDRom.Bus == "" {
				d.CDRom.Bus = v1.DiskBusSATA
			}
			if d.CDRom.ReadOnly == nil {
				d.CDRom.ReadOnly = ptr.To(true)
			}
			if d.CDRom.Tray == "" {
				d.CDRom.Tray = "closed"
			}
		case d.LUN != nil:
			if d.LUN.Bus == "" {
				d.LUN.Bus = v1.DiskBusSCSI
			}
		default:
			if d.Disk == nil {
				d.Disk = &v1.DiskTarget{}
			}
			if d.Disk.Bus == "" {
				d.Disk.Bus = v1.DiskBusVirtio
			}
		}
	}

	AddDefaultPodNetwork(spec)
	for i := range domain.Devices.Interfaces {
		iface := &domain.Devices.Interfaces[i]
		b := iface.InterfaceBindingMethod
		if b.Bridge == nil && b.Masquerade == nil && b.SRIOV == nil && b.Slirp == nil && b.Macvtap == nil &&
			b.Passt == nil && b.PasstBinding == nil && iface.Binding == nil {
			if defaultBinding == BindingBridge {
				iface.Bridge = &v1.InterfaceBridge{}
			} else {
				iface.Masquerade = &v1.InterfaceMasquerade{}
			}
		}
		if iface.Model == "" {
			iface.Model = "virtio"
		}
		for j := range iface.Ports {
			if iface.Ports[j].Protocol == "" {
				iface.Ports[j].Protocol = "TCP"
			}
		}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptr.To(v1.DefaultGracePeriodSeconds)
	}
}

// AddDisksForVolumes shows every volume to the guest: one without a disk gets a disk
// (its bus is completed later).
func AddDisksForVolumes(spec *v1.VirtualMachineInstanceSpec) {
	hasDisk := map[string]bool{}
	for _, d := range spec.Domain.Devices.Disks {
		hasDisk[d.Name] = true
	}
	for _, vol := range spec.Volumes {
		if !hasDisk[vol.Name] {
			spec.Domain.Devices.Disks = append(spec.Domain.Devices.Disks, v1.Disk{Name: vol.Name})
		}
	}
}

// AddDefaultPodNetwork gives a VMI without networks the pod network and its interface
// (binding and model completed later), unless it opted out.
func AddDefaultPodNetwork(spec *v1.VirtualMachineInstanceSpec) {
	devices := &spec.Domain.Devices
	if len(spec.Networks) == 0 && len(devices.Interfaces) == 0 &&
		(devices.AutoattachPodInterface == nil || *devices.AutoattachPodInterface) {
		spec.Networks = []v1.Network{{Name: DefaultNetworkName, NetworkSource: v1.NetworkSource{Pod: &v1.PodNetwork{}}}}
		devices.Interfaces = []v1.Interface{{Name: DefaultNetworkName}}
	}
}
