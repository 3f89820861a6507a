package v1

import (
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
)

// DomainSpec is the guest's virtual hardware.
type DomainSpec struct {
	// Resources the guest's pod requests and is limited to. requests.memory doubles as the
	// guest memory when memory.guest is not set.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`
	// CPU topology and model of the guest.
	// +optional
	CPU *CPU `json:"cpu,omitempty"`
	// Memory of the guest.
	// +optional
	Memory *Memory `json:"memory,omitempty"`
	// Machine type of the guest (for example q35).
	// +optional
	Machine *Machine `json:"machine,omitempty"`
	// Firmware: BIOS or EFI, serial number and UUID.
	// +optional
	Firmware *Firmware `json:"firmware,omitempty"`
	// Clock of the guest: time zone or UTC offset, and timers.
	// +optional
	Clock *Clock `json:"clock,omitempty"`
	// Features of the guest platform: ACPI, APIC, SMM, Hyper-V enlightenments, ...
	// +optional
	Features *Features `json:"features,omitempty"`
	// Devices attached to the guest.
	Devices Devices `json:"devices"`
	// IOThreadsPolicy says how disk I/O threads are allocated: shared or auto.
	// +optional
	IOThreadsPolicy *IOThreadsPolicy `json:"ioThreadsPolicy,omitempty"`
	// Chassis is the SMBIOS chassis information the guest sees.
	// +optional
	Chassis *Chassis `json:"chassis,omitempty"`
}

// IOThreadsPolicy says how I/O threads are allocated to disks.
// +kubebuilder:validation:Enum=shared;auto;supplementalPool
type IOThreadsPolicy string

const (
	// IOThreadsPolicyShared runs all disks on one I/O thread.
	IOThreadsPolicyShared IOThreadsPolicy = "shared"
	// IOThreadsPolicyAuto spreads disks over a pool of I/O threads.
	IOThreadsPolicyAuto IOThreadsPolicy = "auto"
)

// ResourceRequirements are the compute resources of the guest's pod.
type ResourceRequirements struct {
	// Requests of the pod; requests.memory is the guest memory unless memory.guest is set.
	// +optional
	Requests k8sv1.ResourceList `json:"requests,omitempty"`
	// Limits of the pod.
	// +optional
	Limits k8sv1.ResourceList `json:"limits,omitempty"`
	// OvercommitGuestOverhead, when true, does not add the virtualization overhead to the
	// pod's memory request (the pod may then be OOM-killed under pressure).
	// +optional
	OvercommitGuestOverhead bool `json:"overcommitGuestOverhead,omitempty"`
}

// CPU is the guest's processor configuration.
type CPU struct {
	// Cores per socket. Defaults to 1.
	// +optional
	Cores uint32 `json:"cores,omitempty"`
	// Sockets of the guest. Defaults to 1.
	// +optional
	Sockets uint32 `json:"sockets,omitempty"`
	// MaxSockets is the upper bound for CPU hotplug.
	// +optional
	MaxSockets uint32 `json:"maxSockets,omitempty"`
	// Threads per core. Defaults to 1.
	// +optional
	Threads uint32 `json:"threads,omitempty"`
	// Model of the CPU: host-passthrough, host-model or a named libvirt model.
	// +optional
	Model string `json:"model,omitempty"`
	// Features to require or disable on top of the model.
	// +optional
	// +listType=atomic
	Features []CPUFeature `json:"features,omitempty"`
	// DedicatedCPUPlacement pins each vCPU to a dedicated host CPU.
	// +optional
	DedicatedCPUPlacement bool `json:"dedicatedCpuPlacement,omitempty"`
	// NUMA guest topology, with dedicated CPUs.
	// +optional
	NUMA *NUMA `json:"numa,omitempty"`
	// IsolateEmulatorThread gives QEMU's emulator thread its own host CPU.
	// +optional
	IsolateEmulatorThread bool `json:"isolateEmulatorThread,omitempty"`
	// Realtime tunes the guest for real-time workloads.
	// +optional
	Realtime *Realtime `json:"realtime,omitempty"`
}

// CPUFeature is a CPU feature flag and what to do with it.
type CPUFeature struct {
	// Name of the feature (as libvirt names it).
	Name string `json:"name"`
	// Policy: force, require, optional, disable or forbid. Defaults to require.
	// +optional
	Policy string `json:"policy,omitempty"`
}

// NUMA configures the guest's NUMA topology.
type NUMA struct {
	// GuestMappingPassthrough mirrors the host's NUMA topology into the guest.
	// +optional
	GuestMappingPassthrough *NUMAGuestMappingPassthrough `json:"guestMappingPassthrough,omitempty"`
}

// NUMAGuestMappingPassthrough has no settings.
type NUMAGuestMappingPassthrough struct{}

// Realtime tunes the guest for real-time workloads.
type Realtime struct {
	// Mask of vCPUs that get real-time scheduling, e.g. "0-3,^1".
	// +optional
	Mask string `json:"mask,omitempty"`
}

// Memory is the guest's memory configuration.
type Memory struct {
	// Hugepages backs the guest memory with huge pages of this size.
	// +optional
	Hugepages *Hugepages `json:"hugepages,omitempty"`
	// Guest is the memory the guest sees. Defaults to resources.requests.memory.
	// +optional
	Guest *resource.Quantity `json:"guest,omitempty"`
	// MaxGuest is the upper bound for memory hotplug.
	// +optional
	MaxGuest *resource.Quantity `json:"maxGuest,omitempty"`
}

// Hugepages selects huge pages for the guest memory.
type Hugepages struct {
	// PageSize of the huge pages, e.g. 2Mi or 1Gi.
	// +optional
	PageSize string `json:"pageSize,omitempty"`
}

// Machine is the emulated machine type.
type Machine struct {
	// Type of the machine, e.g. q35 or pc-q35-rhel9.6.0.
	// +optional
	Type string `json:"type"`
}

// Firmware of the guest.
type Firmware struct {
	// UUID the guest reads from SMBIOS. Defaults to one derived from the VMI's name.
	// +optional
	UUID types.UID `json:"uuid,omitempty"`
	// Bootloader: BIOS (the default) or EFI.
	// +optional
	Bootloader *Bootloader `json:"bootloader,omitempty"`
	// Serial number the guest reads from SMBIOS.
	// +optional
	Serial string `json:"serial,omitempty"`
	// KernelBoot boots a kernel and initrd from a container image instead of a disk.
	// +optional
	KernelBoot *KernelBoot `json:"kernelBoot,omitempty"`
}

// Bootloader selects BIOS or EFI. Only one may be set.
type Bootloader struct {
	// BIOS boots through SeaBIOS.
	// +optional
	BIOS *BIOS `json:"bios,omitempty"`
	// EFI boots through OVMF.
	// +optional
	EFI *EFI `json:"efi,omitempty"`
}

// BIOS boot settings.
type BIOS struct {
	// UseSerial shows the BIOS output on the serial console.
	// +optional
	UseSerial *bool `json:"useSerial,omitempty"`
}

// EFI boot settings.
type EFI struct {
	// SecureBoot enables UEFI secure boot. Defaults to true.
	// +optional
	SecureBoot *bool `json:"secureBoot,omitempty"`
	// Persistent keeps the EFI variables across restarts.
	// +optional
	Persistent *bool `json:"persistent,omitempty"`
}

// KernelBoot boots a kernel from a container image.
type KernelBoot struct {
	// KernelArgs is the kernel command line.
	// +optional
	KernelArgs string `json:"kernelArgs,omitempty"`
	// Container holds the kernel and initrd.
	// +optional
	Container *KernelBootContainer `json:"container,omitempty"`
}

// KernelBootContainer is the image holding the kernel and initrd.
type KernelBootContainer struct {
	// Image holding the files.
	Image string `json:"image"`
	// ImagePullSecret for the image.
	// +optional
	ImagePullSecret string `json:"imagePullSecret,omitempty"`
	// ImagePullPolicy for the image.
	// +optional
	ImagePullPolicy k8sv1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// KernelPath inside the image.
	// +optional
	KernelPath string `json:"kernelPath,omitempty"`
	// InitrdPath inside the image.
	// +optional
	InitrdPath string `json:"initrdPath,omitempty"`
}

// Chassis is SMBIOS chassis information.
type Chassis struct {
	// +optional
	Manufacturer string `json:"manufacturer,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	Serial string `json:"serial,omitempty"`
	// +optional
	Asset string `json:"asset,omitempty"`
	// +optional
	Sku string `json:"sku,omitempty"`
}

// Clock is the guest's real-time clock. One of utc or timezone may be set.
type Clock struct {
	// ClockOffset sets the clock's offset.
	ClockOffset `json:",inline"`
	// Timer configures the guest's timers.
	// +optional
	Timer *Timer `json:"timer,omitempty"`
}

// ClockOffset is the offset of the guest clock. Only one member may be set.
type ClockOffset struct {
	// UTC runs the clock in UTC, optionally offset by some seconds.
	// +optional
	UTC *ClockOffsetUTC `json:"utc,omitempty"`
	// Timezone runs the clock in this time zone, e.g. Europe/Berlin.
	// +optional
	Timezone *ClockOffsetTimezone `json:"timezone,omitempty"`
}

// ClockOffsetUTC is a UTC clock with an optional offset.
type ClockOffsetUTC struct {
	// OffsetSeconds added to UTC.
	// +optional
	OffsetSeconds *int `json:"offsetSeconds,omitempty"`
}

// ClockOffsetTimezone is a time zone name.
type ClockOffsetTimezone string

// Timer configures the guest's timers.
type Timer struct {
	// HPET timer.
	// +optional
	HPET *HPETTimer `json:"hpet,omitempty"`
	// KVM paravirtual clock.
	// +optional
	KVM *KVMTimer `json:"kvm,omitempty"`
	// PIT timer.
	// +optional
	PIT *PITTimer `json:"pit,omitempty"`
	// RTC timer.
	// +optional
	RTC *RTCTimer `json:"rtc,omitempty"`
	// Hyperv reference time counter.
	// +optional
	Hyperv *HypervTimer `json:"hyperv,omitempty"`
}

// HPETTimer configures the HPET.
type HPETTimer struct {
	// TickPolicy: delay, catchup, merge or discard.
	// +optional
	TickPolicy string `json:"tickPolicy,omitempty"`
	// Enabled turns the timer on or off. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
}

// KVMTimer configures the KVM paravirtual clock.
type KVMTimer struct {
	// Enabled turns the timer on or off. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
}

// PITTimer configures the PIT.
type PITTimer struct {
	// TickPolicy: delay, catchup or discard.
	// +optional
	TickPolicy string `json:"tickPolicy,omitempty"`
	// Enabled turns the timer on or off. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
}

// RTCTimer configures the RTC.
type RTCTimer struct {
	// TickPolicy: delay or catchup.
	// +optional
	TickPolicy string `json:"tickPolicy,omitempty"`
	// Enabled turns the timer on or off. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
	// Track: guest or wall.
	// +optional
	Track string `json:"track,omitempty"`
}

// HypervTimer configures the Hyper-V reference time counter.
type HypervTimer struct {
	// Enabled turns the timer on or off. Defaults to true.
	// +optional
	Enabled *bool `json:"present,omitempty"`
}

// Features of the guest platform.
type Features struct {
	// ACPI support. Defaults to enabled.
	// +optional
	ACPI FeatureState `json:"acpi,omitempty"`
	// APIC support. Defaults to enabled.
	// +optional
	APIC *FeatureAPIC `json:"apic,omitempty"`
	// Hyperv enlightenments for Windows guests.
	// +optional
	Hyperv *FeatureHyperv `json:"hyperv,omitempty"`
	// SMM (system management mode); required for EFI secure boot.
	// +optional
	SMM *FeatureState `json:"smm,omitempty"`
	// KVM hides the hypervisor from the guest when hidden is true.
	// +optional
	KVM *FeatureKVM `json:"kvm,omitempty"`
	// Pvspinlock enables paravirtual spinlocks.
	// +optional
	Pvspinlock *FeatureState `json:"pvspinlock,omitempty"`
}

// FeatureState enables or disables a feature.
type FeatureState struct {
	// Enabled turns the feature on or off. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// FeatureAPIC configures the APIC.
type FeatureAPIC struct {
	// Enabled turns the APIC on or off. Defaults to true.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// EndOfInterrupt enables the EOI broadcast.
	// +optional
	EndOfInterrupt bool `json:"endOfInterrupt,omitempty"`
}

// FeatureKVM configures KVM-specific features.
type FeatureKVM struct {
	// Hide the KVM hypervisor signature from the guest.
	// +optional
	Hidden bool `json:"hidden,omitempty"`
}

// FeatureHyperv holds the Hyper-V enlightenments.
type FeatureHyperv struct {
	// +optional
	Relaxed *FeatureState `json:"relaxed,omitempty"`
	// +optional
	VAPIC *FeatureState `json:"vapic,omitempty"`
	// +optional
	Spinlocks *FeatureSpinlocks `json:"spinlocks,omitempty"`
	// +optional
	VPIndex *FeatureState `json:"vpindex,omitempty"`
	// +optional
	Runtime *FeatureState `json:"runtime,omitempty"`
	// +optional
	SyNIC *FeatureState `json:"synic,omitempty"`
	// +optional
	SyNICTimer *SyNICTimer `json:"synictimer,omitempty"`
	// +optional
	Reset *FeatureState `json:"reset,omitempty"`
	// +optional
	VendorID *FeatureVendorID `json:"vendorid,omitempty"`
	// +optional
	Frequencies *FeatureState `json:"frequencies,omitempty"`
	// +optional
	Reenlightenment *FeatureState `json:"reenlightenment,omitempty"`
	// +optional
	TLBFlush *TLBFlush `json:"tlbflush,omitempty"`
	// +optional
	IPI *FeatureState `json:"ipi,omitempty"`
	// +optional
	EVMCS *FeatureState `json:"evmcs,omitempty"`
}

// FeatureSpinlocks configures Hyper-V spinlock retries.
type FeatureSpinlocks struct {
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Retries before the guest notifies the hypervisor; at least 4096.
	// +optional
	Retries *uint32 `json:"spinlocks,omitempty"`
}

// SyNICTimer configures the Hyper-V synthetic timers.
type SyNICTimer struct {
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// +optional
	Direct *FeatureState `json:"direct,omitempty"`
}

// FeatureVendorID sets the Hyper-V vendor id.
type FeatureVendorID struct {
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// VendorID, up to 12 characters.
	// +optional
	VendorID string `json:"vendorid,omitempty"`
}

// TLBFlush configures Hyper-V TLB flush hints.
type TLBFlush struct {
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// +optional
	Direct *FeatureState `json:"direct,omitempty"`
	// +optional
	Extended *FeatureState `json:"extended,omitempty"`
}

// Devices attached to the guest.
type Devices struct {
	// UseVirtioTransitional uses virtio-transitional devices so old guests find them.
	// +optional
	UseVirtioTransitional *bool `json:"useVirtioTransitional,omitempty"`
	// DisableHotplug disables PCIe hotplug ports.
	// +optional
	DisableHotplug bool `json:"disableHotplug,omitempty"`
	// Disks of the guest; each names a volume.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Disks []Disk `json:"disks,omitempty"`
	// Watchdog device of the guest.
	// +optional
	Watchdog *Watchdog `json:"watchdog,omitempty"`
	// Interfaces of the guest; each names a network.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Interfaces []Interface `json:"interfaces,omitempty"`
	// Inputs such as a USB tablet.
	// +optional
	// +listType=atomic
	Inputs []Input `json:"inputs,omitempty"`
	// AutoattachPodInterface adds a pod-network interface when no interface is listed.
	// Defaults to true.
	// +optional
	AutoattachPodInterface *bool `json:"autoattachPodInterface,omitempty"`
	// AutoattachGraphicsDevice adds a VGA device for VNC. Defaults to true.
	// +optional
	AutoattachGraphicsDevice *bool `json:"autoattachGraphicsDevice,omitempty"`
	// AutoattachSerialConsole adds the serial console. Defaults to true.
	// +optional
	AutoattachSerialConsole *bool `json:"autoattachSerialConsole,omitempty"`
	// AutoattachMemBalloon adds a memory balloon for statistics. Defaults to true.
	// +optional
	AutoattachMemBalloon *bool `json:"autoattachMemBalloon,omitempty"`
	// AutoattachInputDevice adds an input device matching the graphics. Defaults to false.
	// +optional
	AutoattachInputDevice *bool `json:"autoattachInputDevice,omitempty"`
	// AutoattachVSOCK adds a virtio vsock device.
	// +optional
	AutoattachVSOCK *bool `json:"autoattachVSOCK,omitempty"`
	// Rng adds a virtio random number generator fed from the host.
	// +optional
	Rng *Rng `json:"rng,omitempty"`
	// BlockMultiQueue gives each virtio disk as many queues as the guest has vCPUs.
	// +optional
	BlockMultiQueue *bool `json:"blockMultiQueue,omitempty"`
	// NetworkInterfaceMultiQueue gives each virtio interface as many queues as the guest
	// has vCPUs.
	// +optional
	NetworkInterfaceMultiQueue *bool `json:"networkInterfaceMultiqueue,omitempty"`
	// LogSerialConsole writes the serial console to a log the pod's logs can show.
	// +optional
	LogSerialConsole *bool `json:"logSerialConsole,omitempty"`
}

// Rng is a virtio random number generator. It has no settings.
type Rng struct{}

// Input is an input device.
type Input struct {
	// Bus of the device: usb or virtio.
	// +optional
	Bus InputBus `json:"bus,omitempty"`
	// Type of the device: tablet.
	Type InputType `json:"type"`
	// Name of the device.
	Name string `json:"name"`
}

// InputBus is the bus of an input device.
type InputBus string

// InputType is the kind of input device.
type InputType string

// Watchdog is a watchdog device. One model may be set.
type Watchdog struct {
	// Name of the watchdog.
	Name string `json:"name"`
	// WatchdogDevice is the model.
	WatchdogDevice `json:",inline"`
}

// WatchdogDevice is the watchdog model.
type WatchdogDevice struct {
	// I6300ESB is the Intel 6300ESB watchdog.
	// +optional
	I6300ESB *I6300ESBWatchdog `json:"i6300esb,omitempty"`
}

// I6300ESBWatchdog configures the Intel 6300ESB watchdog.
type I6300ESBWatchdog struct {
	// Action when the watchdog fires: poweroff, reset or shutdown. Defaults to reset.
	// +optional
	Action WatchdogAction `json:"action,omitempty"`
}

// WatchdogAction is what happens when the watchdog fires.
type WatchdogAction string

// Disk is a guest disk backed by a volume of the same name.
type Disk struct {
	// Name of the disk; a volume with this name must exist.
	Name string `json:"name"`
	// DiskDevice is the kind of device: disk, lun or cdrom.
	DiskDevice `json:",inline"`
	// BootOrder of the disk; lower boots first. Disks without one are not booted from
	// unless no device has a boot order.
	// +optional
	BootOrder *uint `json:"bootOrder,omitempty"`
	// Serial number the guest sees for the disk.
	// +optional
	Serial string `json:"serial,omitempty"`
	// DedicatedIOThread gives the disk its own I/O thread.
	// +optional
	DedicatedIOThread *bool `json:"dedicatedIOThread,omitempty"`
	// Cache mode: none, writethrough, writeback or directsync.
	// +optional
	Cache DriverCache `json:"cache,omitempty"`
	// IO mode: native, threads or default.
	// +optional
	IO DriverIO `json:"io,omitempty"`
	// Tag lets the guest find the disk through device metadata.
	// +optional
	Tag string `json:"tag,omitempty"`
	// BlockSize of the disk as the guest sees it.
	// +optional
	BlockSize *BlockSize `json:"blockSize,omitempty"`
	// Shareable lets several VMIs attach the disk at once.
	// +optional
	Shareable *bool `json:"shareable,omitempty"`
	// ErrorPolicy on I/O errors: stop, ignore, report or enospace.
	// +optional
	ErrorPolicy *DiskErrorPolicy `json:"errorPolicy,omitempty"`
}

// DiskDevice is the kind of a disk. Only one member may be set; none means disk.
type DiskDevice struct {
	// Disk exposes the volume as a disk.
	// +optional
	Disk *DiskTarget `json:"disk,omitempty"`
	// LUN exposes the volume as a SCSI LUN.
	// +optional
	LUN *LunTarget `json:"lun,omitempty"`
	// CDRom exposes the volume as a CD-ROM.
	// +optional
	CDRom *CDRomTarget `json:"cdrom,omitempty"`
}

// DiskBus is the bus a disk is attached to.
type DiskBus string

// Disk buses.
const (
	DiskBusVirtio DiskBus = "virtio"
	DiskBusSATA   DiskBus = "sata"
	DiskBusSCSI   DiskBus = "scsi"
	DiskBusUSB    DiskBus = "usb"
)

// DiskTarget is a disk device.
type DiskTarget struct {
	// Bus: virtio, sata, scsi or usb. Defaults to virtio.
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
	// ReadOnly exposes the disk read-only.
	// +optional
	ReadOnly bool `json:"readonly,omitempty"`
	// PciAddress of the disk in the guest, e.g. 0000:81:01.10.
	// +optional
	PciAddress string `json:"pciAddress,omitempty"`
}

// LunTarget is a SCSI LUN device.
type LunTarget struct {
	// Bus: scsi. Defaults to scsi.
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
	// ReadOnly exposes the LUN read-only.
	// +optional
	ReadOnly bool `json:"readonly,omitempty"`
	// Reservation enables SCSI persistent reservations.
	// +optional
	Reservation bool `json:"reservation,omitempty"`
}

// TrayState is the state of a CD-ROM tray.
type TrayState string

// CDRomTarget is a CD-ROM device.
type CDRomTarget struct {
	// Bus: sata or scsi. Defaults to sata.
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
	// ReadOnly exposes the CD-ROM read-only. Defaults to true.
	// +optional
	ReadOnly *bool `json:"readonly,omitempty"`
	// Tray: open or closed. Defaults to closed.
	// +optional
	Tray TrayState `json:"tray,omitempty"`
}

// DriverCache is a disk cache mode.
// +kubebuilder:validation:Enum=none;writethrough;writeback;directsync
type DriverCache string

// Disk cache modes.
const (
	CacheNone         DriverCache = "none"
	CacheWriteThrough DriverCache = "writethrough"
	CacheWriteBack    DriverCache = "writeback"
	CacheDirectSync   DriverCache = "directsync"
)

// DriverIO is a disk I/O mode.
// +kubebuilder:validation:Enum=native;threads;default
type DriverIO string

// Disk I/O modes.
const (
	IONative  DriverIO = "native"
	IOThreads DriverIO = "threads"
	IODefault DriverIO = "default"
)

// DiskErrorPolicy is what happens on disk I/O errors.
// +kubebuilder:validation:Enum=stop;ignore;report;enospace
type DiskErrorPolicy string

// BlockSize is the logical and physical block size of a disk.
type BlockSize struct {
	// Custom sizes.
	// +optional
	Custom *CustomBlockSize `json:"custom,omitempty"`
	// MatchVolume takes the sizes from the backing volume.
	// +optional
	MatchVolume *FeatureState `json:"matchVolume,omitempty"`
}

// CustomBlockSize is a logical and physical block size in bytes.
type CustomBlockSize struct {
	// Logical block size.
	Logical uint `json:"logical"`
	// Physical block size.
	Physical uint `json:"physical"`
	// DiscardGranularity in bytes.
	// +optional
	DiscardGranularity *uint `json:"discardGranularity,omitempty"`
}
