// Package validation checks VirtualMachineInstance specs. virt-launcher runs it before
// libvirt sees a spec, and virt-api's admission webhook before the apiserver stores one,
// so a user learns about a mistake from the field that holds it.
//
// A field KubeVirt has and Hypernest does not implement yet is refused here with
// "not supported" (never silently ignored).
package validation

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	k8svalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// MinGuestMemory is KubeVirt's floor for a guest's memory (1M). KubeVirt's users and its
// own tests run guest-less VMIs of 1Mi to exercise the control plane, so Hypernest takes
// them too: QEMU starts with 1 MiB, only the guest does not boot.
var MinGuestMemory = resource.MustParse("1M")

// MinBootableGuestMemory is the smallest guest the demo and KubeVirt's examples boot
// with: a Debian kernel does not boot in 64 MiB (it resets silently), 128 MiB is enough.
// Below it virt-api warns instead of refusing, as KubeVirt accepts such guests.
var MinBootableGuestMemory = resource.MustParse("128Mi")

// MaxSize is Hypernest's ceiling for a guest's memory and for a disk it creates
// (emptyDisk capacity). KubeVirt sets none, but no node holds 64 TiB, so such a VMI could
// never run, and far beyond it the launcher's memory overhead and qemu-img's sizes would
// near int64's range (8 EiB) and overflow.
var MaxSize = resource.MustParse("64Ti")

// MaxVCPUs is the most vCPUs (sockets x cores x threads) the launcher's QEMU takes: 288
// for its q35 machine ("The max CPUs supported by machine 'pc-q35-7.2' is 288", QEMU 7.2,
// Debian 12's); a bigger topology would only fail when the domain starts.
const MaxVCPUs = 288

// notSupported refuses a field Hypernest does not implement yet.
func notSupported(path *field.Path, what string) *field.Error {
	return field.Forbidden(path, what+" is not supported by Hypernest yet")
}

// ValidateVirtualMachineInstanceSpec checks a VMI spec found at path (spec for a VMI,
// spec.template.spec for a VM).
func ValidateVirtualMachineInstanceSpec(path *field.Path, spec *v1.VirtualMachineInstanceSpec) field.ErrorList {
	var errs field.ErrorList
	volumes := sets.New[string]()
	volumesPath := path.Child("volumes")
	for i, vol := range spec.Volumes {
		errs = append(errs, validateVolume(volumesPath.Index(i), &vol, volumes)...)
		volumes.Insert(vol.Name)
	}
	networks := sets.New[string]()
	networksPath := path.Child("networks")
	podNetworks := 0
	for i, net := range spec.Networks {
		p := networksPath.Index(i)
		errs = append(errs, validateName(p.Child("name"), net.Name, networks, "network")...)
		networks.Insert(net.Name)
		switch {
		case net.Pod != nil && net.Multus != nil:
			errs = append(errs, field.Invalid(p, net.Name, "set exactly one of pod and multus"))
		case net.Pod != nil:
			podNetworks++
			if podNetworks > 1 {
				errs = append(errs, field.Invalid(p.Child("pod"), net.Name, "only one network may be the pod network"))
			}
			if net.Pod.VMIPv6NetworkCIDR != "" {
				errs = append(errs, notSupported(p.Child("pod", "vmIPv6NetworkCIDR"), "IPv6 guest networking"))
			}
		case net.Multus != nil:
			errs = append(errs, notSupported(p.Child("multus"), "Multus secondary networks"))
		default:
			errs = append(errs, field.Required(p, "set one of pod and multus"))
		}
	}
	errs = append(errs, validateDomain(path.Child("domain"), &spec.Domain, volumes, networks)...)

	if spec.TerminationGracePeriodSeconds != nil && *spec.TerminationGracePeriodSeconds < 0 {
		errs = append(errs, field.Invalid(path.Child("terminationGracePeriodSeconds"), *spec.TerminationGracePeriodSeconds, "must be 0 or more"))
	}
	if spec.Hostname != "" {
		for _, msg := range k8svalidation.IsDNS1123Label(spec.Hostname) {
			errs = append(errs, field.Invalid(path.Child("hostname"), spec.Hostname, msg))
		}
	}
	if spec.ReadinessProbe != nil {
		errs = append(errs, notSupported(path.Child("readinessProbe"), "readinessProbe"))
	}
	if spec.LivenessProbe != nil {
		errs = append(errs, notSupported(path.Child("livenessProbe"), "livenessProbe"))
	}
	if len(spec.AccessCredentials) > 0 {
		errs = append(errs, notSupported(path.Child("accessCredentials"), "accessCredentials"))
	}
	if spec.StartStrategy != nil && *spec.StartStrategy != v1.StartStrategyPaused {
		errs = append(errs, field.NotSupported(path.Child("startStrategy"), *spec.StartStrategy, []string{string(v1.StartStrategyPaused)}))
	}
	if spec.Architecture != "" && spec.Architecture != "amd64" {
		errs = append(errs, field.NotSupported(path.Child("architecture"), spec.Architecture, []string{"amd64"}))
	}
	return errs
}

func validateName(path *field.Path, name string, seen sets.Set[string], what string) field.ErrorList {
	var errs field.ErrorList
	if name == "" {
		return append(errs, field.Required(path, what+" names are required"))
	}
	for _, msg := range k8svalidation.IsDNS1123Label(name) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	if seen.Has(name) {
		errs = append(errs, field.Duplicate(path, name))
	}
	return errs
}

func validateVolume(path *field.Path, vol *v1.Volume, seen sets.Set[string]) field.ErrorList {
	errs := validateName(path.Child("name"), vol.Name, seen, "volume")
	sources := 0
	count := func(set bool) {
		if set {
			sources++
		}
	}
	src := vol.VolumeSource
	count(src.ContainerDisk != nil)
	count(src.CloudInitNoCloud != nil)
	count(src.CloudInitConfigDrive != nil)
	count(src.EmptyDisk != nil)
	count(src.HostDisk != nil)
	count(src.PersistentVolumeClaim != nil)
	count(src.Ephemeral != nil)
	count(src.DataVolume != nil)
	count(src.ConfigMap != nil)
	count(src.Secret != nil)
	count(src.DownwardAPI != nil)
	count(src.ServiceAccount != nil)
	switch {
	case sources == 0:
		return append(errs, field.Required(path, "set one volume source, e.g. containerDisk or cloudInitNoCloud"))
	case sources > 1:
		return append(errs, field.Invalid(path, vol.Name, "set exactly one volume source"))
	}

	switch {
	case src.ContainerDisk != nil:
		if src.ContainerDisk.Image == "" {
			errs = append(errs, field.Required(path.Child("containerDisk", "image"), "the image holding the disk"))
		}
		if src.ContainerDisk.ImagePullSecret != "" {
			errs = append(errs, notSupported(path.Child("containerDisk", "imagePullSecret"), "imagePullSecret"))
		}
	case src.CloudInitNoCloud != nil:
		s := src.CloudInitNoCloud
		errs = append(errs, validateCloudInit(path.Child("cloudInitNoCloud"), s.UserData, s.UserDataBase64, s.UserDataSecretRef,
			s.NetworkData, s.NetworkDataBase64, s.NetworkDataSecretRef)...)
	case src.CloudInitConfigDrive != nil:
		s := src.CloudInitConfigDrive
		errs = append(errs, validateCloudInit(path.Child("cloudInitConfigDrive"), s.UserData, s.UserDataBase64, s.UserDataSecretRef,
			s.NetworkData, s.NetworkDataBase64, s.NetworkDataSecretRef)...)
	case src.EmptyDisk != nil:
		if src.EmptyDisk.Capacity.Sign() <= 0 {
			errs = append(errs, field.Invalid(path.Child("emptyDisk", "capacity"), src.EmptyDisk.Capacity.String(), "must be more than 0"))
		}
		if src.EmptyDisk.Capacity.Cmp(MaxSize) > 0 {
			errs = append(errs, field.Invalid(path.Child("emptyDisk", "capacity"), src.EmptyDisk.Capacity.String(), "must be at most "+MaxSize.String()))
		}
	case src.HostDisk != nil:
		errs = append(errs, notSupported(path.Child("hostDisk"), "hostDisk"))
	case src.PersistentVolumeClaim != nil:
		pvc := path.Child("persistentVolumeClaim")
		if src.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(pvc.Child("claimName"), "the name of a PersistentVolumeClaim in the VMI's namespace"))
		}
		if src.PersistentVolumeClaim.Hotpluggable {
			errs = append(errs, notSupported(pvc.Child("hotpluggable"), "volume hotplug"))
		}
	case src.Ephemeral != nil:
		errs = append(errs, notSupported(path.Child("ephemeral"), "ephemeral"))
	case src.DataVolume != nil:
		errs = append(errs, field.Forbidden(path.Child("dataVolume"),
			"dataVolume needs the Containerized Data Importer (CDI), which Hypernest does not ship; "+
				"create a PersistentVolumeClaim (with a disk.img in it, or empty) and use a persistentVolumeClaim volume instead"))
	case src.ConfigMap != nil:
		errs = append(errs, notSupported(path.Child("configMap"), "configMap volumes"))
	case src.Secret != nil:
		errs = append(errs, notSupported(path.Child("secret"), "secret volumes"))
	case src.DownwardAPI != nil:
		errs = append(errs, notSupported(path.Child("downwardAPI"), "downwardAPI volumes"))
	case src.ServiceAccount != nil:
		errs = append(errs, notSupported(path.Child("serviceAccount"), "serviceAccount volumes"))
	}
	return errs
}

func validateCloudInit(path *field.Path, userData, userDataBase64 string, userDataSecret *k8sv1.LocalObjectReference,
	networkData, networkDataBase64 string, networkDataSecret *k8sv1.LocalObjectReference) field.ErrorList {
	var errs field.ErrorList
	forms := 0
	for _, set := range []bool{userData != "", userDataBase64 != "", userDataSecret != nil} {
		if set {
			forms++
		}
	}
	if forms > 1 {
		errs = append(errs, field.Invalid(path, "", "set at most one of userData, userDataBase64 and secretRef"))
	}
	forms = 0
	for _, set := range []bool{networkData != "", networkDataBase64 != "", networkDataSecret != nil} {
		if set {
			forms++
		}
	}
	if forms > 1 {
		errs = append(errs, field.Invalid(path, "", "set at most one of networkData, networkDataBase64 and networkDataSecretRef"))
	}
	if userDataSecret != nil && userDataSecret.Name == "" {
		errs = append(errs, field.Required(path.Child("secretRef", "name"), "the Secret's name"))
	}
	if networkDataSecret != nil && networkDataSecret.Name == "" {
		errs = append(errs, field.Required(path.Child("networkDataSecretRef", "name"), "the Secret's name"))
	}
	return errs
}

func validateDomain(path *field.Path, domain *v1.DomainSpec, volumes, networks sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	guest := GuestMemory(domain)
	switch {
	case guest == nil:
		errs = append(errs, field.Required(path.Child("memory", "guest"), "set memory.guest or resources.requests.memory"))
	case guest.Cmp(MinGuestMemory) < 0:
		errs = append(errs, field.Invalid(guestMemoryPath(path, domain), guest.String(),
			fmt.Sprintf("must be greater than or equal to %s", MinGuestMemory.String())))
	case guest.Cmp(MaxSize) > 0:
		errs = append(errs, field.Invalid(guestMemoryPath(path, domain), guest.String(),
			fmt.Sprintf("must be at most %s: no node holds more", MaxSize.String())))
	}
	if domain.Memory != nil {
		if domain.Memory.Hugepages != nil {
			errs = append(errs, notSupported(path.Child("memory", "hugepages"), "hugepages"))
		}
		if domain.Memory.MaxGuest != nil {
			errs = append(errs, notSupported(path.Child("memory", "maxGuest"), "memory hotplug"))
		}
	}
	if limit, ok := domain.Resources.Limits[k8sv1.ResourceMemory]; ok && guest != nil && limit.Cmp(*guest) < 0 {
		errs = append(errs, field.Invalid(path.Child("resources", "limits", "memory"), limit.String(), "must be at least the guest memory"))
	}
	if cpu := domain.CPU; cpu != nil {
		p := path.Child("cpu")
		if cpu.DedicatedCPUPlacement {
			errs = append(errs, notSupported(p.Child("dedicatedCpuPlacement"), "dedicatedCpuPlacement"))
		}
		if cpu.IsolateEmulatorThread {
			errs = append(errs, notSupported(p.Child("isolateEmulatorThread"), "isolateEmulatorThread"))
		}
		if cpu.NUMA != nil {
			errs = append(errs, notSupported(p.Child("numa"), "guest NUMA"))
		}
		if cpu.Realtime != nil {
			errs = append(errs, notSupported(p.Child("realtime"), "realtime"))
		}
		if cpu.MaxSockets != 0 {
			errs = append(errs, notSupported(p.Child("maxSockets"), "CPU hotplug"))
		}
		// uint64: three uint32 factors cannot overflow it.
		if n := uint64(max(cpu.Sockets, 1)) * uint64(max(cpu.Cores, 1)) * uint64(max(cpu.Threads, 1)); n > MaxVCPUs {
			f := p.Child("cores")
			switch {
			case cpu.Sockets > cpu.Cores && cpu.Sockets >= cpu.Threads:
				f = p.Child("sockets")
			case cpu.Threads > cpu.Cores && cpu.Threads > cpu.Sockets:
				f = p.Child("threads")
			}
			errs = append(errs, field.Invalid(f, n, fmt.Sprintf("sockets x cores x threads is %d vCPUs; the launcher's QEMU takes at most %d", n, MaxVCPUs)))
		}
		for i, f := range cpu.Features {
			switch f.Policy {
			case "", "force", "require", "optional", "disable", "forbid":
			default:
				errs = append(errs, field.NotSupported(p.Child("features").Index(i).Child("policy"), f.Policy,
					[]string{"force", "require", "optional", "disable", "forbid"}))
			}
		}
	}
	if fw := domain.Firmware; fw != nil {
		if fw.Bootloader != nil && fw.Bootloader.EFI != nil {
			errs = append(errs, notSupported(path.Child("firmware", "bootloader", "efi"), "EFI boot"))
		}
		if fw.KernelBoot != nil {
			errs = append(errs, validateKernelBoot(path.Child("firmware", "kernelBoot"), fw.KernelBoot)...)
		}
	}
	if f := domain.Features; f != nil && f.Hyperv != nil {
		errs = append(errs, notSupported(path.Child("features", "hyperv"), "Hyper-V enlightenments"))
	}
	if domain.IOThreadsPolicy != nil {
		errs = append(errs, notSupported(path.Child("ioThreadsPolicy"), "ioThreadsPolicy"))
	}
	errs = append(errs, validateDevices(path.Child("devices"), &domain.Devices, volumes, networks)...)
	return errs
}

var diskBuses = []string{string(v1.DiskBusVirtio), string(v1.DiskBusSATA), string(v1.DiskBusSCSI), string(v1.DiskBusUSB)}

func validateDevices(path *field.Path, devices *v1.Devices, volumes, networks sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	disks := sets.New[string]()
	bootOrders := map[uint]string{}
	disksPath := path.Child("disks")
	for i, disk := range devices.Disks {
		p := disksPath.Index(i)
		if disk.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), "the name of the volume the disk shows"))
			continue
		}
		if disks.Has(disk.Name) {
			errs = append(errs, field.Duplicate(p.Child("name"), disk.Name))
		}
		disks.Insert(disk.Name)
		if !volumes.Has(disk.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), disk.Name, fmt.Sprintf("volume %q not found", disk.Name)))
		}
		targets := 0
		var bus v1.DiskBus
		if disk.Disk != nil {
			targets++
			bus = disk.Disk.Bus
		}
		if disk.CDRom != nil {
			targets++
			bus = disk.CDRom.Bus
			if bus == v1.DiskBusVirtio {
				errs = append(errs, field.NotSupported(p.Child("cdrom", "bus"), bus, []string{"sata", "scsi"}))
			}
		}
		if disk.LUN != nil {
			targets++
			errs = append(errs, notSupported(p.Child("lun"), "lun disks"))
		}
		if targets > 1 {
			errs = append(errs, field.Invalid(p, disk.Name, "set at most one of disk, cdrom and lun"))
		}
		if bus != "" && !sets.New(diskBuses...).Has(string(bus)) {
			errs = append(errs, field.NotSupported(p.Child(targetName(disk), "bus"), bus, diskBuses))
		}
		if disk.BootOrder != nil {
			if *disk.BootOrder < 1 {
				errs = append(errs, field.Invalid(p.Child("bootOrder"), *disk.BootOrder, "must be 1 or more"))
			} else if other, taken := bootOrders[*disk.BootOrder]; taken {
				errs = append(errs, field.Invalid(p.Child("bootOrder"), *disk.BootOrder, fmt.Sprintf("disk %q has the same boot order", other)))
			} else {
				bootOrders[*disk.BootOrder] = disk.Name
			}
		}
		if disk.BlockSize != nil {
			errs = append(errs, notSupported(p.Child("blockSize"), "blockSize"))
		}
		if disk.Shareable != nil && *disk.Shareable {
			errs = append(errs, notSupported(p.Child("shareable"), "shareable disks"))
		}
		if disk.DedicatedIOThread != nil && *disk.DedicatedIOThread {
			errs = append(errs, notSupported(p.Child("dedicatedIOThread"), "dedicatedIOThread"))
		}
	}

	interfaces := sets.New[string]()
	ifacesPath := path.Child("interfaces")
	for i, iface := range devices.Interfaces {
		p := ifacesPath.Index(i)
		errs = append(errs, validateName(p.Child("name"), iface.Name, interfaces, "interface")...)
		interfaces.Insert(iface.Name)
		if !networks.Has(iface.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), iface.Name, fmt.Sprintf("network %q not found", iface.Name)))
		}
		b := iface.InterfaceBindingMethod
		switch {
		case b.Bridge != nil && len(iface.Ports) > 0:
			// The guest owns the pod's IP and every port of it: a list would be ignored.
			errs = append(errs, field.Invalid(p.Child("ports"), len(iface.Ports),
				"ports are forwarded by the masquerade binding only; with the bridge binding the guest has the pod's IP and every port: remove ports"))
		case b.SRIOV != nil:
			errs = append(errs, notSupported(p.Child("sriov"), "SR-IOV"))
		case b.Slirp != nil:
			errs = append(errs, notSupported(p.Child("slirp"), "the slirp binding (deprecated)"))
		case b.Macvtap != nil:
			errs = append(errs, notSupported(p.Child("macvtap"), "the macvtap binding (discontinued)"))
		case b.Passt != nil:
			errs = append(errs, notSupported(p.Child("passt"), "the passt binding (discontinued)"))
		case b.PasstBinding != nil:
			errs = append(errs, notSupported(p.Child("passtBinding"), "the passtBinding binding"))
		case iface.Binding != nil:
			errs = append(errs, notSupported(p.Child("binding"), "network binding plugins"))
		}
		switch iface.Model {
		case "", "virtio", "e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139":
		default:
			errs = append(errs, field.NotSupported(p.Child("model"), iface.Model,
				[]string{"virtio", "e1000", "e1000e", "igb", "ne2k_pci", "pcnet", "rtl8139"}))
		}
		for j, port := range iface.Ports {
			if port.Protocol != "" && port.Protocol != "TCP" && port.Protocol != "UDP" {
				errs = append(errs, field.NotSupported(p.Child("ports").Index(j).Child("protocol"), port.Protocol, []string{"TCP", "UDP"}))
			}
		}
		if iface.DHCPOptions != nil {
			errs = append(errs, notSupported(p.Child("dhcpOptions"), "dhcpOptions"))
		}
		if iface.State != "" && iface.State != "up" {
			errs = append(errs, notSupported(p.Child("state"), "interface state "+string(iface.State)))
		}
	}
	for i, input := range devices.Inputs {
		p := path.Child("inputs").Index(i)
		if input.Type != "tablet" {
			errs = append(errs, field.NotSupported(p.Child("type"), input.Type, []string{"tablet"}))
		}
		if input.Bus != "" && input.Bus != "usb" && input.Bus != "virtio" {
			errs = append(errs, field.NotSupported(p.Child("bus"), input.Bus, []string{"usb", "virtio"}))
		}
	}
	if w := devices.Watchdog; w != nil {
		if w.I6300ESB == nil {
			errs = append(errs, field.Required(path.Child("watchdog", "i6300esb"), "the watchdog model"))
		} else if a := w.I6300ESB.Action; a != "" && a != "poweroff" && a != "reset" && a != "shutdown" {
			errs = append(errs, field.NotSupported(path.Child("watchdog", "i6300esb", "action"), a, []string{"poweroff", "reset", "shutdown"}))
		}
	}
	if v := devices.AutoattachVSOCK; v != nil && *v {
		errs = append(errs, notSupported(path.Child("autoattachVSOCK"), "vsock"))
	}
	return errs
}

func targetName(disk v1.Disk) string {
	switch {
	case disk.CDRom != nil:
		return "cdrom"
	case disk.LUN != nil:
		return "lun"
	}
	return "disk"
}

// guestMemoryPath is the field GuestMemory read its answer from.
func guestMemoryPath(path *field.Path, domain *v1.DomainSpec) *field.Path {
	if domain.Memory != nil && domain.Memory.Guest != nil {
		return path.Child("memory", "guest")
	}
	return path.Child("resources", "requests", "memory")
}

// WarnVirtualMachineInstanceSpec returns what virt-api answers with admission warnings:
// specs KubeVirt accepts and Hypernest runs, that are still likely mistakes. kubectl
// prints each as "Warning: ...".
func WarnVirtualMachineInstanceSpec(path *field.Path, spec *v1.VirtualMachineInstanceSpec) []string {
	var warnings []string
	domainPath := path.Child("domain")
	if guest := GuestMemory(&spec.Domain); guest != nil && guest.Cmp(MinGuestMemory) >= 0 && guest.Cmp(MinBootableGuestMemory) < 0 {
		warnings = append(warnings, fmt.Sprintf("%s: %s is less than %s: QEMU starts, but a Linux guest this small does not boot (fine for a guest-less VMI)",
			guestMemoryPath(domainPath, &spec.Domain), guest.String(), MinBootableGuestMemory.String()))
	}
	return warnings
}

// GuestMemory is the memory the guest sees: memory.guest, or else resources.requests.memory.
func GuestMemory(domain *v1.DomainSpec) *resource.Quantity {
	if domain.Memory != nil && domain.Memory.Guest != nil {
		return domain.Memory.Guest
	}
	if req, ok := domain.Resources.Requests[k8sv1.ResourceMemory]; ok {
		return &req
	}
	return nil
}

// validateKernelBoot checks a kernel boot as KubeVirt does (same messages): an image, at
// least one of the kernel and the initrd, absolute paths inside it; kernel arguments only
// with a kernel from an image.
func validateKernelBoot(path *field.Path, kb *v1.KernelBoot) field.ErrorList {
	var errs field.ErrorList
	if kb.Container == nil {
		if kb.KernelArgs != "" {
			errs = append(errs, field.Invalid(path.Child("kernelArgs"), kb.KernelArgs, "kernel arguments cannot be provided without an external kernel"))
		}
		return errs
	}
	c, cpath := kb.Container, path.Child("container")
	if c.Image == "" {
		errs = append(errs, field.Required(cpath.Child("image"), fmt.Sprintf("%s must be defined with an image", cpath)))
	}
	if c.ImagePullSecret != "" {
		errs = append(errs, notSupported(cpath.Child("imagePullSecret"), "imagePullSecret"))
	}
	if c.KernelPath == "" && c.InitrdPath == "" {
		errs = append(errs, field.Required(cpath, fmt.Sprintf("%s must be defined with at least one of the following: kernelPath, initrdPath", cpath)))
	}
	for _, f := range []struct{ name, path string }{{"kernelPath", c.KernelPath}, {"initrdPath", c.InitrdPath}} {
		if f.path != "" && (!filepath.IsAbs(f.path) || slices.Contains(strings.Split(f.path, "/"), "..")) {
			errs = append(errs, field.Invalid(cpath.Child(f.name), f.path, fmt.Sprintf("%s must be an absolute path to a file without relative components", cpath.Child(f.name))))
		}
	}
	return errs
}
