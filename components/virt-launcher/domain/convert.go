// Package domain turns a VirtualMachineInstance into the libvirt domain that runs it.
// It is pure: everything it needs from the pod (disk files, network plumbing) comes in
// Options, so conversions are checked against golden XML without libvirt.
package domain

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"libvirt.org/go/libvirtxml"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// vmiUIDNamespace is the XML namespace of the metadata element that ties a domain to its VMI.
const vmiUIDNamespace = "https://hypernest.io/domain/1.0"

// Arch is libvirt's name for the guests' architecture: the launcher image carries
// qemu-system-x86_64 alone.
const Arch = "x86_64"

// DiskSource is the file that backs one volume's disk, prepared by the launcher.
type DiskSource struct {
	// Path of the file in the launcher's filesystem.
	Path string
	// Format: qcow2 or raw.
	Format string
	// ReadOnly for cloud-init ISOs and read-only claims.
	ReadOnly bool
	// Block: Path is a block device node (a block-mode PersistentVolumeClaim), not a file.
	Block bool
	// DirectIO, when set, tells whether this disk supports O_DIRECT; unset, the disk is
	// in the launcher's private folder and Options.DirectIO answers.
	DirectIO *bool
}

// Options carry what the domain needs beyond the VMI spec.
type Options struct {
	// UseEmulation runs the guest under TCG (domain type qemu) instead of KVM.
	UseEmulation bool
	// Disks maps volume names to their backing files.
	Disks map[string]DiskSource
	// Interfaces maps interface names to what virt-handler prepared for them.
	Interfaces map[string]*launcherv1.InterfacePlumbing
	// SocketsDir is where the serial console and VNC sockets go.
	SocketsDir string
	// DirectIO tells whether disk files support O_DIRECT, which cache=none needs.
	DirectIO bool
	// GuestAgentSocket is where the guest agent's channel ends (libvirt's default path
	// under the session's config folder is too long for a unix socket).
	GuestAgentSocket string
}

// Name is the libvirt domain name of a VMI: <namespace>_<name>, as KubeVirt names it.
func Name(vmi *v1.VirtualMachineInstance) string {
	return vmi.Namespace + "_" + vmi.Name
}

// UUID is the guest's SMBIOS UUID: spec.domain.firmware.uuid, or one derived from the
// VMI's namespace and name, so a VM keeps its UUID across restarts.
func UUID(vmi *v1.VirtualMachineInstance) string {
	if fw := vmi.Spec.Domain.Firmware; fw != nil && fw.UUID != "" {
		return string(fw.UUID)
	}
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("kubevirt.io/"+vmi.Namespace+"/"+vmi.Name)).String()
}

// Convert renders the domain for a VMI whose spec has its defaults set. It validates the
// spec first and refuses it, naming the fields, when it is not one it can run.
func Convert(vmi *v1.VirtualMachineInstance, opts Options) (*libvirtxml.Domain, error) {
	if errs := validation.ValidateVirtualMachineInstanceSpec(field.NewPath("spec"), &vmi.Spec); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	spec := &vmi.Spec.Domain
	guest := validation.GuestMemory(spec)
	memKiB := uint(guest.Value() / 1024)

	dom := &libvirtxml.Domain{
		Type: "kvm",
		Name: Name(vmi),
		UUID: UUID(vmi),
		Metadata: &libvirtxml.DomainMetadata{
			XML: fmt.Sprintf(`<hypernest:vmi xmlns:hypernest=%q uid=%q/>`, vmiUIDNamespace, vmi.UID),
		},
		Memory:        &libvirtxml.DomainMemory{Value: memKiB, Unit: "KiB"},
		CurrentMemory: &libvirtxml.DomainCurrentMemory{Value: memKiB, Unit: "KiB"},
		OS: &libvirtxml.DomainOS{
			Type: &libvirtxml.DomainOSType{Type: "hvm", Arch: Arch, Machine: spec.Machine.Type},
		},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices:    &libvirtxml.DomainDeviceList{},
	}
	if opts.UseEmulation {
		dom.Type = "qemu"
	}

	cpu := spec.CPU
	dom.VCPU = &libvirtxml.DomainVCPU{Value: uint(cpu.Sockets * cpu.Cores * cpu.Threads)}
	dom.CPU = &libvirtxml.DomainCPU{
		Topology: &libvirtxml.DomainCPUTopology{Sockets: int(cpu.Sockets), Cores: int(cpu.Cores), Threads: int(cpu.Threads)},
	}
	switch {
	case cpu.Model == "host-passthrough" || cpu.Model == "host-model":
		dom.CPU.Mode = cpu.Model
	case cpu.Model != "":
		dom.CPU.Mode = "custom"
		dom.CPU.Match = "exact"
		dom.CPU.Model = &libvirtxml.DomainCPUModel{Value: cpu.Model, Fallback: "allow"}
	case opts.UseEmulation:
		// Every feature TCG can emulate: modern guests (x86-64-v2) need more than qemu64.
		dom.CPU.Mode = "maximum"
	default:
		dom.CPU.Mode = "host-model" // KubeVirt's default
	}
	for _, f := range cpu.Features {
		policy := f.Policy
		if policy == "" {
			policy = "require"
		}
		dom.CPU.Features = append(dom.CPU.Features, libvirtxml.DomainCPUFeature{Name: f.Name, Policy: policy})
	}

	dom.Features = features(spec, opts)
	dom.Clock = clock(spec)
	if fw := spec.Firmware; fw != nil {
		if fw.Serial != "" {
			dom.SysInfo = append(dom.SysInfo, libvirtxml.DomainSysInfo{SMBIOS: &libvirtxml.DomainSysInfoSMBIOS{
				System: &libvirtxml.DomainSysInfoSystem{Entry: []libvirtxml.DomainSysInfoEntry{{Name: "serial", Value: fw.Serial}}},
			}})
			dom.OS.SMBios = &libvirtxml.DomainSMBios{Mode: "sysinfo"}
		}
		if fw.Bootloader != nil && fw.Bootloader.BIOS != nil && fw.Bootloader.BIOS.UseSerial != nil && *fw.Bootloader.BIOS.UseSerial {
			dom.OS.BIOS = &libvirtxml.DomainBIOS{UseSerial: "yes"}
		}
		if kb := fw.KernelBoot; kb != nil && kb.Container != nil {
			// QEMU loads the kernel and initrd straight from the mounted image (direct
			// kernel boot); the disks, if any, are then only data.
			if kb.Container.KernelPath != "" {
				dom.OS.Kernel = filepath.Join(launcherv1.KernelBootDir, kb.Container.KernelPath)
			}
			if kb.Container.InitrdPath != "" {
				dom.OS.Initrd = filepath.Join(launcherv1.KernelBootDir, kb.Container.InitrdPath)
			}
			dom.OS.Cmdline = kb.KernelArgs
		}
	}

	disks, err := disks(vmi, opts)
	if err != nil {
		return nil, err
	}
	dom.Devices.Disks = disks
	ifaces, err := interfaces(vmi, opts)
	if err != nil {
		return nil, err
	}
	dom.Devices.Interfaces = ifaces
	devices(dom.Devices, spec, opts)
	return dom, nil
}

func features(spec *v1.DomainSpec, opts Options) *libvirtxml.DomainFeatureList {
	list := &libvirtxml.DomainFeatureList{}
	f := spec.Features
	if f == nil || f.ACPI.Enabled == nil || *f.ACPI.Enabled {
		list.ACPI = &libvirtxml.DomainFeature{}
	}
	if f == nil || f.APIC == nil || f.APIC.Enabled == nil || *f.APIC.Enabled {
		list.APIC = &libvirtxml.DomainFeatureAPIC{}
		if f != nil && f.APIC != nil && f.APIC.EndOfInterrupt {
			list.APIC.EOI = "on"
		}
	}
	if f != nil && f.SMM != nil {
		list.SMM = &libvirtxml.DomainFeatureSMM{State: onOff(f.SMM.Enabled)}
	}
	if f != nil && f.Pvspinlock != nil {
		list.PVSpinlock = &libvirtxml.DomainFeatureState{State: onOff(f.Pvspinlock.Enabled)}
	}
	if f != nil && f.KVM != nil && f.KVM.Hidden {
		list.KVM = &libvirtxml.DomainFeatureKVM{Hidden: &libvirtxml.DomainFeatureState{State: "on"}}
	}
	if opts.UseEmulation {
		list.TCG = &libvirtxml.DomainFeatureTCG{TBCache: &libvirtxml.DomainFeatureTCGTBCache{Unit: "MiB", Size: uint(launcherv1.TCGTranslationCacheMiB(spec))}}
	}
	return list
}

// onOff renders a FeatureState's enabled (nil means enabled).
func onOff(enabled *bool) string {
	if enabled == nil || *enabled {
		return "on"
	}
	return "off"
}

func clock(spec *v1.DomainSpec) *libvirtxml.DomainClock {
	c := &libvirtxml.DomainClock{Offset: "utc"}
	if spec.Clock == nil {
		return c
	}
	if spec.Clock.Timezone != nil {
		c.Offset, c.TimeZone = "timezone", string(*spec.Clock.Timezone)
	}
	if spec.Clock.UTC != nil && spec.Clock.UTC.OffsetSeconds != nil {
		c.Offset, c.Adjustment = "variable", fmt.Sprint(*spec.Clock.UTC.OffsetSeconds)
		c.Basis = "utc"
	}
	if t := spec.Clock.Timer; t != nil {
		add := func(name, tickPolicy, track string, enabled *bool) {
			c.Timer = append(c.Timer, libvirtxml.DomainTimer{Name: name, TickPolicy: tickPolicy, Track: track, Present: yesNo(enabled)})
		}
		if t.HPET != nil {
			add("hpet", t.HPET.TickPolicy, "", t.HPET.Enabled)
		}
		if t.KVM != nil {
			add("kvmclock", "", "", t.KVM.Enabled)
		}
		if t.PIT != nil {
			add("pit", t.PIT.TickPolicy, "", t.PIT.Enabled)
		}
		if t.RTC != nil {
			add("rtc", t.RTC.TickPolicy, t.RTC.Track, t.RTC.Enabled)
		}
		if t.Hyperv != nil {
			add("hypervclock", "", "", t.Hyperv.Enabled)
		}
	}
	return c
}

func yesNo(enabled *bool) string {
	if enabled == nil || *enabled {
		return "yes"
	}
	return "no"
}

// diskPrefixes are the target device name prefixes by bus.
var diskPrefixes = map[v1.DiskBus]string{v1.DiskBusVirtio: "vd", v1.DiskBusSATA: "sd", v1.DiskBusSCSI: "sd", v1.DiskBusUSB: "sd"}

func disks(vmi *v1.VirtualMachineInstance, opts Options) ([]libvirtxml.DomainDisk, error) {
	var out []libvirtxml.DomainDisk
	next := map[string]int{} // next free device letter per prefix
	for i, d := range vmi.Spec.Domain.Devices.Disks {
		src, ok := opts.Disks[d.Name]
		if !ok {
			return nil, field.Invalid(field.NewPath("spec", "domain", "devices", "disks").Index(i).Child("name"), d.Name,
				"the launcher prepared no file for this disk's volume")
		}
		device, bus, readOnly := "disk", v1.DiskBusVirtio, src.ReadOnly
		switch {
		case d.CDRom != nil:
			device, bus = "cdrom", d.CDRom.Bus
			readOnly = readOnly || d.CDRom.ReadOnly == nil || *d.CDRom.ReadOnly
		case d.Disk != nil:
			bus = d.Disk.Bus
			readOnly = readOnly || d.Disk.ReadOnly
		}
		prefix := diskPrefixes[bus]
		dev := prefix + driveLetters(next[prefix])
		next[prefix]++

		cache := string(d.Cache)
		if cache == "" {
			cache = "writethrough"
			directIO := opts.DirectIO
			if src.DirectIO != nil {
				directIO = *src.DirectIO
			}
			if directIO && !readOnly {
				cache = "none"
			}
		}
		disk := libvirtxml.DomainDisk{
			Device: device,
			Driver: &libvirtxml.DomainDiskDriver{Name: "qemu", Type: src.Format, Cache: cache, ErrorPolicy: "stop", Discard: "unmap"},
			Source: diskSource(src),
			Target: &libvirtxml.DomainDiskTarget{Dev: dev, Bus: string(bus)},
			Alias:  &libvirtxml.DomainAlias{Name: "ua-" + d.Name},
			Serial: d.Serial,
		}
		if d.IO != "" && d.IO != v1.IODefault {
			disk.Driver.IO = string(d.IO)
		}
		if d.ErrorPolicy != nil {
			disk.Driver.ErrorPolicy = string(*d.ErrorPolicy)
		}
		if readOnly {
			disk.ReadOnly = &libvirtxml.DomainDiskReadOnly{}
			disk.Driver.Discard = ""
		}
		if d.BootOrder != nil {
			disk.Boot = &libvirtxml.DomainDeviceBoot{Order: *d.BootOrder}
		}
		if d.Disk != nil && d.Disk.PciAddress != "" {
			addr, err := pciAddress(d.Disk.PciAddress)
			if err != nil {
				return nil, field.Invalid(field.NewPath("spec", "domain", "devices", "disks").Index(i).Child("disk", "pciAddress"), d.Disk.PciAddress, err.Error())
			}
			disk.Address = addr
		}
		if bus == v1.DiskBusVirtio && vmi.Spec.Domain.Devices.BlockMultiQueue != nil && *vmi.Spec.Domain.Devices.BlockMultiQueue {
			queues := uint(vmi.Spec.Domain.CPU.Sockets * vmi.Spec.Domain.CPU.Cores * vmi.Spec.Domain.CPU.Threads)
			disk.Driver.Queues = &queues
		}
		if bus == v1.DiskBusVirtio && transitional(vmi) {
			disk.Model = "virtio-transitional"
		}
		out = append(out, disk)
	}
	return out, nil
}

// diskSource is the libvirt source of a prepared disk: a file, or a block device.
func diskSource(src DiskSource) *libvirtxml.DomainDiskSource {
	if src.Block {
		return &libvirtxml.DomainDiskSource{Block: &libvirtxml.DomainDiskSourceBlock{Dev: src.Path}}
	}
	return &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: src.Path}}
}

// driveLetters names the n-th drive as Linux does: a..z, aa..az, ...
func driveLetters(n int) string {
	name := ""
	for n >= 0 {
		name = string(rune('a'+n%26)) + name
		n = n/26 - 1
	}
	return name
}

func transitional(vmi *v1.VirtualMachineInstance) bool {
	t := vmi.Spec.Domain.Devices.UseVirtioTransitional
	return t != nil && *t
}

// pciAddress parses 0000:81:01.1 into a libvirt PCI address.
func pciAddress(s string) (*libvirtxml.DomainAddress, error) {
	var domain, bus, slot, function uint
	if n, err := fmt.Sscanf(s, "%04x:%02x:%02x.%1x", &domain, &bus, &slot, &function); err != nil || n != 4 {
		return nil, fmt.Errorf("want a PCI address like 0000:81:01.1")
	}
	return &libvirtxml.DomainAddress{PCI: &libvirtxml.DomainAddressPCI{Domain: &domain, Bus: &bus, Slot: &slot, Function: &function}}, nil
}

func interfaces(vmi *v1.VirtualMachineInstance, opts Options) ([]libvirtxml.DomainInterface, error) {
	var out []libvirtxml.DomainInterface
	spec := &vmi.Spec.Domain
	for i, iface := range spec.Devices.Interfaces {
		plumbing, ok := opts.Interfaces[iface.Name]
		if !ok || plumbing.Tap == "" {
			return nil, field.Invalid(field.NewPath("spec", "domain", "devices", "interfaces").Index(i).Child("name"), iface.Name,
				"virt-handler has not prepared the network for this interface")
		}
		model := iface.Model
		if model == "virtio" && transitional(vmi) {
			model = "virtio-transitional"
		}
		mac := iface.MacAddress
		if mac == "" {
			mac = plumbing.Mac
		}
		di := libvirtxml.DomainInterface{
			Source: &libvirtxml.DomainInterfaceSource{Ethernet: &libvirtxml.DomainInterfaceSourceEthernet{}},
			Target: &libvirtxml.DomainInterfaceTarget{Dev: plumbing.Tap, Managed: "no"},
			Model:  &libvirtxml.DomainInterfaceModel{Type: model},
			Alias:  &libvirtxml.DomainAlias{Name: "ua-" + iface.Name},
		}
		if mac != "" {
			di.MAC = &libvirtxml.DomainInterfaceMAC{Address: mac}
		}
		if plumbing.Mtu != 0 {
			di.MTU = &libvirtxml.DomainInterfaceMTU{Size: uint(plumbing.Mtu)}
		}
		if iface.BootOrder != nil {
			di.Boot = &libvirtxml.DomainDeviceBoot{Order: *iface.BootOrder}
		} else {
			// Never PXE-boot from an interface the user did not ask to boot from.
			di.ROM = &libvirtxml.DomainROM{Enabled: "no"}
		}
		if iface.PciAddress != "" {
			addr, err := pciAddress(iface.PciAddress)
			if err != nil {
				return nil, field.Invalid(field.NewPath("spec", "domain", "devices", "interfaces").Index(i).Child("pciAddress"), iface.PciAddress, err.Error())
			}
			di.Address = addr
		}
		if strings.HasPrefix(model, "virtio") && spec.Devices.NetworkInterfaceMultiQueue != nil && *spec.Devices.NetworkInterfaceMultiQueue {
			queues := uint(spec.CPU.Sockets * spec.CPU.Cores * spec.CPU.Threads)
			if queues > 1 {
				di.Driver = &libvirtxml.DomainInterfaceDriver{Queues: queues}
			}
		}
		out = append(out, di)
	}
	return out, nil
}

func devices(list *libvirtxml.DomainDeviceList, spec *v1.DomainSpec, opts Options) {
	d := &spec.Devices
	if d.AutoattachSerialConsole == nil || *d.AutoattachSerialConsole {
		port := uint(0)
		serialSocket := filepath.Join(opts.SocketsDir, launcherv1.SerialSocket)
		list.Serials = []libvirtxml.DomainSerial{{
			Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind", Path: serialSocket}},
			Target: &libvirtxml.DomainSerialTarget{Port: &port},
		}}
		list.Consoles = []libvirtxml.DomainConsole{{
			Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind", Path: serialSocket}},
			Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
		}}
	}
	if d.AutoattachGraphicsDevice == nil || *d.AutoattachGraphicsDevice {
		list.Graphics = []libvirtxml.DomainGraphic{{VNC: &libvirtxml.DomainGraphicVNC{Socket: filepath.Join(opts.SocketsDir, launcherv1.VNCSocket)}}}
		vram, heads := uint(16384), uint(1)
		list.Videos = []libvirtxml.DomainVideo{{Model: libvirtxml.DomainVideoModel{Type: "vga", VRam: vram, Heads: heads}}}
	}
	for _, in := range spec.Devices.Inputs {
		bus := string(in.Bus)
		if bus == "" {
			bus = "usb"
		}
		list.Inputs = append(list.Inputs, libvirtxml.DomainInput{Type: string(in.Type), Bus: bus, Alias: &libvirtxml.DomainAlias{Name: "ua-" + in.Name}})
	}
	if d.Rng != nil {
		list.RNGs = []libvirtxml.DomainRNG{{
			Model:   "virtio",
			Backend: &libvirtxml.DomainRNGBackend{Random: &libvirtxml.DomainRNGBackendRandom{Device: "/dev/urandom"}},
		}}
	}
	if d.AutoattachMemBalloon == nil || *d.AutoattachMemBalloon {
		// Statistics every 10 s, KubeVirt's default memBalloonStatsPeriod.
		list.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "virtio", Stats: &libvirtxml.DomainMemBalloonStats{Period: 10}}
	} else {
		list.MemBalloon = &libvirtxml.DomainMemBalloon{Model: "none"}
	}
	if w := d.Watchdog; w != nil && w.I6300ESB != nil {
		action := string(w.I6300ESB.Action)
		if action == "" {
			action = "reset"
		}
		list.Watchdogs = []libvirtxml.DomainWatchdog{{Model: "i6300esb", Action: action, Alias: &libvirtxml.DomainAlias{Name: "ua-" + w.Name}}}
	}
	// The guest agent's channel, as KubeVirt always adds it.
	list.Channels = []libvirtxml.DomainChannel{{
		Source: &libvirtxml.DomainChardevSource{UNIX: &libvirtxml.DomainChardevSourceUNIX{Mode: "bind", Path: opts.GuestAgentSocket}},
		Target: &libvirtxml.DomainChannelTarget{VirtIO: &libvirtxml.DomainChannelTargetVirtIO{Name: "org.qemu.guest_agent.0"}},
	}}
	// No USB controller unless an input needs one (q35 would add one by default).
	if len(list.Inputs) == 0 {
		list.Controllers = append(list.Controllers, libvirtxml.DomainController{Type: "usb", Model: "none"})
	}
}

// GuestCPUReadByFeatureWords reports whether libvirt may read this domain's started CPU
// through feature-words and filtered-features instead of one qom-get per CPU property
// (see libvirtd.WithFeatureWordsCPURead): an emulated x86_64 guest with the maximum CPU
// and no named features. libvirt checks nothing of such a CPU against the guest
// (check='none' is its default for mode maximum), so both reads lead to the same QEMU
// and the same guest. host-model on KVM is left to the generic read: libvirt expands it
// with MSR-based features and checks them, which needs the generic read.
func GuestCPUReadByFeatureWords(dom *libvirtxml.Domain) bool {
	return dom != nil && dom.Type == "qemu" &&
		dom.OS != nil && dom.OS.Type != nil && dom.OS.Type.Arch == Arch &&
		dom.CPU != nil && dom.CPU.Mode == "maximum" && len(dom.CPU.Features) == 0
}
