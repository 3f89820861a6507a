package v1beta1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// GroupName is the API group of instance types and preferences.
const GroupName = "instancetype.kubevirt.io"

// SchemeGroupVersion is instancetype.kubevirt.io/v1beta1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1beta1"}

// VendorLabel on an instance type or preference names who publishes it (KubeVirt's
// common-instancetypes say "kubevirt.io"); metrics name only KubeVirt's and Red Hat's.
const VendorLabel = "instancetype.kubevirt.io/vendor"

// Kinds, as VMs name them in spec.instancetype.kind and spec.preference.kind.
const (
	VirtualMachineInstancetypeKind        = "VirtualMachineInstancetype"
	VirtualMachineClusterInstancetypeKind = "VirtualMachineClusterInstancetype"
	VirtualMachinePreferenceKind          = "VirtualMachinePreference"
	VirtualMachineClusterPreferenceKind   = "VirtualMachineClusterPreference"
)

var (
	// SchemeBuilder registers the instancetype types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the instancetype types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&VirtualMachineInstancetype{}, &VirtualMachineInstancetypeList{},
		&VirtualMachineClusterInstancetype{}, &VirtualMachineClusterInstancetypeList{},
		&VirtualMachinePreference{}, &VirtualMachinePreferenceList{},
		&VirtualMachineClusterPreference{}, &VirtualMachineClusterPreferenceList{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}

// VirtualMachineInstancetype sizes the VMs of its namespace that name it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=vminstancetype;vminstancetypes;vmf;vmfs,categories=all
type VirtualMachineInstancetype struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the size it gives a VM.
	Spec VirtualMachineInstancetypeSpec `json:"spec"`
}

// VirtualMachineInstancetypeList is a list of instance types.
//
// +kubebuilder:object:root=true
type VirtualMachineInstancetypeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineInstancetype `json:"items"`
}

// VirtualMachineClusterInstancetype sizes the VMs of every namespace that name it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=vmclusterinstancetype;vmclusterinstancetypes;vmcf;vmcfs
type VirtualMachineClusterInstancetype struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the size it gives a VM.
	Spec VirtualMachineInstancetypeSpec `json:"spec"`
}

// VirtualMachineClusterInstancetypeList is a list of cluster instance types.
//
// +kubebuilder:object:root=true
type VirtualMachineClusterInstancetypeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineClusterInstancetype `json:"items"`
}

// VirtualMachineInstancetypeSpec is what an instance type decides for a VM. A VM that
// names one may not set these itself (virt-api refuses the conflict, naming the field).
type VirtualMachineInstancetypeSpec struct {
	// NodeSelector the VM's pod must match.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// SchedulerName that places the VM's pod.
	// +optional
	SchedulerName string `json:"schedulerName,omitempty"`
	// CPU is the guest's vCPUs.
	CPU CPUInstancetype `json:"cpu"`
	// Memory is the guest's memory.
	Memory MemoryInstancetype `json:"memory"`
	// IOThreadsPolicy for the VM's disks.
	// +optional
	IOThreadsPolicy *v1.IOThreadsPolicy `json:"ioThreadsPolicy,omitempty"`
	// Annotations added to the VMI (the VM's own win).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// CPUInstancetype is the instance type's CPU.
type CPUInstancetype struct {
	// Guest is the number of vCPUs, laid out as the preference's preferredCPUTopology
	// says (sockets by default).
	// +kubebuilder:validation:Minimum=1
	Guest uint32 `json:"guest"`
	// Model of the guest CPU (host-model, host-passthrough or a named model).
	// +optional
	Model *string `json:"model,omitempty"`
	// DedicatedCPUPlacement pins each vCPU to a host CPU.
	// +optional
	DedicatedCPUPlacement *bool `json:"dedicatedCPUPlacement,omitempty"`
	// NUMA topology of the guest.
	// +optional
	NUMA *v1.NUMA `json:"numa,omitempty"`
	// IsolateEmulatorThread gives QEMU's emulator thread a CPU of its own.
	// +optional
	IsolateEmulatorThread *bool `json:"isolateEmulatorThread,omitempty"`
	// Realtime tunes the vCPUs for realtime work.
	// +optional
	Realtime *v1.Realtime `json:"realtime,omitempty"`
	// MaxSockets the guest may grow to by CPU hotplug.
	// +optional
	MaxSockets *uint32 `json:"maxSockets,omitempty"`
}

// MemoryInstancetype is the instance type's memory.
type MemoryInstancetype struct {
	// Guest is the memory the guest sees.
	Guest resource.Quantity `json:"guest"`
	// Hugepages backs the guest's memory.
	// +optional
	Hugepages *v1.Hugepages `json:"hugepages,omitempty"`
	// OvercommitPercent lowers the pod's memory request below the guest's memory by
	// this percentage.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	OvercommitPercent int `json:"overcommitPercent,omitempty"`
	// MaxGuest the guest may grow to by memory hotplug.
	// +optional
	MaxGuest *resource.Quantity `json:"maxGuest,omitempty"`
}

// VirtualMachinePreference gives defaults to the VMs of its namespace that name it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=vmpref;vmprefs;vmp;vmps,categories=all
type VirtualMachinePreference struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the defaults it gives a VM.
	Spec VirtualMachinePreferenceSpec `json:"spec"`
}

// VirtualMachinePreferenceList is a list of preferences.
//
// +kubebuilder:object:root=true
type VirtualMachinePreferenceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachinePreference `json:"items"`
}

// VirtualMachineClusterPreference gives defaults to the VMs of every namespace that name it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=vmcp;vmcps
type VirtualMachineClusterPreference struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the defaults it gives a VM.
	Spec VirtualMachinePreferenceSpec `json:"spec"`
}

// VirtualMachineClusterPreferenceList is a list of cluster preferences.
//
// +kubebuilder:object:root=true
type VirtualMachineClusterPreferenceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineClusterPreference `json:"items"`
}

// VirtualMachinePreferenceSpec holds defaults: each applies only where the VM leaves the
// field unset.
type VirtualMachinePreferenceSpec struct {
	// Clock defaults.
	// +optional
	Clock *ClockPreferences `json:"clock,omitempty"`
	// CPU defaults.
	// +optional
	CPU *CPUPreferences `json:"cpu,omitempty"`
	// Devices defaults.
	// +optional
	Devices *DevicePreferences `json:"devices,omitempty"`
	// Features defaults.
	// +optional
	Features *FeaturePreferences `json:"features,omitempty"`
	// Firmware defaults.
	// +optional
	Firmware *FirmwarePreferences `json:"firmware,omitempty"`
	// Machine defaults.
	// +optional
	Machine *MachinePreferences `json:"machine,omitempty"`
	// Volumes defaults (for DataVolume templates, which need CDI).
	// +optional
	Volumes *VolumePreferences `json:"volumes,omitempty"`
	// PreferredSubdomain of the guest's hostname.
	// +optional
	PreferredSubdomain *string `json:"preferredSubdomain,omitempty"`
	// PreferredTerminationGracePeriodSeconds for the guest's shutdown.
	// +optional
	PreferredTerminationGracePeriodSeconds *int64 `json:"preferredTerminationGracePeriodSeconds,omitempty"`
	// Requirements the VM's size must meet.
	// +optional
	Requirements *PreferenceRequirements `json:"requirements,omitempty"`
	// Annotations added to the VMI (the VM's and the instance type's win).
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// PreferSpreadSocketToCoreRatio is the sockets-to-cores ratio of the spread topology
	// (deprecated by KubeVirt in favour of cpu.spreadOptions.ratio).
	// +optional
	PreferSpreadSocketToCoreRatio uint32 `json:"preferSpreadSocketToCoreRatio,omitempty"`
	// PreferredArchitecture of the guest.
	// +optional
	PreferredArchitecture *string `json:"preferredArchitecture,omitempty"`
}

// VolumePreferences are defaults for DataVolume templates.
type VolumePreferences struct {
	// PreferredStorageClassName for the VM's DataVolume templates.
	// +optional
	PreferredStorageClassName string `json:"preferredStorageClassName,omitempty"`
}

// PreferredCPUTopology is how an instance type's vCPUs are laid out.
// +kubebuilder:validation:Enum=preferCores;preferSockets;preferThreads;preferSpread;preferAny;cores;sockets;threads;spread;any
type PreferredCPUTopology string

// CPU topologies; the prefer* spellings are KubeVirt's deprecated ones, still accepted.
const (
	DeprecatedPreferCores   PreferredCPUTopology = "preferCores"
	DeprecatedPreferSockets PreferredCPUTopology = "preferSockets"
	DeprecatedPreferThreads PreferredCPUTopology = "preferThreads"
	DeprecatedPreferSpread  PreferredCPUTopology = "preferSpread"
	DeprecatedPreferAny     PreferredCPUTopology = "preferAny"
	Cores                   PreferredCPUTopology = "cores"
	Sockets                 PreferredCPUTopology = "sockets"
	Threads                 PreferredCPUTopology = "threads"
	Spread                  PreferredCPUTopology = "spread"
	Any                     PreferredCPUTopology = "any"
)

// CPUPreferences are CPU defaults.
type CPUPreferences struct {
	// PreferredCPUTopology lays the instance type's vCPUs out as sockets (the default),
	// cores, threads, spread across them, or any.
	// +optional
	PreferredCPUTopology *PreferredCPUTopology `json:"preferredCPUTopology,omitempty"`
	// SpreadOptions of the spread topology.
	// +optional
	SpreadOptions *SpreadOptions `json:"spreadOptions,omitempty"`
	// PreferredCPUFeatures added to the guest CPU.
	// +optional
	PreferredCPUFeatures []v1.CPUFeature `json:"preferredCPUFeatures,omitempty"`
}

// SpreadAcross says which topology levels the spread topology uses.
// +kubebuilder:validation:Enum=SocketsCoresThreads;SocketsCores;CoresThreads
type SpreadAcross string

// Spread levels.
const (
	SpreadAcrossSocketsCoresThreads SpreadAcross = "SocketsCoresThreads"
	SpreadAcrossSocketsCores        SpreadAcross = "SocketsCores"
	SpreadAcrossCoresThreads        SpreadAcross = "CoresThreads"
)

// SpreadOptions tune the spread topology.
type SpreadOptions struct {
	// Across which levels to spread (SocketsCores by default).
	// +optional
	Across *SpreadAcross `json:"across,omitempty"`
	// Ratio of the spread (2 by default).
	// +optional
	Ratio *uint32 `json:"ratio,omitempty"`
}

// DevicePreferences are device defaults.
type DevicePreferences struct {
	// +optional
	PreferredAutoattachGraphicsDevice *bool `json:"preferredAutoattachGraphicsDevice,omitempty"`
	// +optional
	PreferredAutoattachMemBalloon *bool `json:"preferredAutoattachMemBalloon,omitempty"`
	// +optional
	PreferredAutoattachPodInterface *bool `json:"preferredAutoattachPodInterface,omitempty"`
	// +optional
	PreferredAutoattachSerialConsole *bool `json:"preferredAutoattachSerialConsole,omitempty"`
	// +optional
	PreferredAutoattachInputDevice *bool `json:"preferredAutoattachInputDevice,omitempty"`
	// +optional
	PreferredDisableHotplug *bool `json:"preferredDisableHotplug,omitempty"`
	// PreferredSoundModel (Hypernest has no sound devices: refused).
	// +optional
	PreferredSoundModel string `json:"preferredSoundModel,omitempty"`
	// +optional
	PreferredUseVirtioTransitional *bool `json:"preferredUseVirtioTransitional,omitempty"`
	// +optional
	PreferredInputBus v1.InputBus `json:"preferredInputBus,omitempty"`
	// +optional
	PreferredInputType v1.InputType `json:"preferredInputType,omitempty"`
	// PreferredDiskBus of disks that name no bus.
	// +optional
	PreferredDiskBus v1.DiskBus `json:"preferredDiskBus,omitempty"`
	// PreferredLunBus of LUNs that name no bus.
	// +optional
	PreferredLunBus v1.DiskBus `json:"preferredLunBus,omitempty"`
	// PreferredCdromBus of CD-ROMs that name no bus.
	// +optional
	PreferredCdromBus v1.DiskBus `json:"preferredCdromBus,omitempty"`
	// +optional
	PreferredDiskDedicatedIoThread *bool `json:"preferredDiskDedicatedIoThread,omitempty"`
	// +optional
	PreferredDiskCache v1.DriverCache `json:"preferredDiskCache,omitempty"`
	// +optional
	PreferredDiskIO v1.DriverIO `json:"preferredDiskIO,omitempty"`
	// +optional
	PreferredDiskBlockSize *v1.BlockSize `json:"preferredDiskBlockSize,omitempty"`
	// PreferredInterfaceModel of interfaces that name no model.
	// +optional
	PreferredInterfaceModel string `json:"preferredInterfaceModel,omitempty"`
	// +optional
	PreferredRng *v1.Rng `json:"preferredRng,omitempty"`
	// +optional
	PreferredBlockMultiQueue *bool `json:"preferredBlockMultiQueue,omitempty"`
	// +optional
	PreferredNetworkInterfaceMultiQueue *bool `json:"preferredNetworkInterfaceMultiQueue,omitempty"`
	// +optional
	PreferredInterfaceMasquerade *v1.InterfaceMasquerade `json:"preferredInterfaceMasquerade,omitempty"`
	// PreferredVideoType (Hypernest has no video settings: refused).
	// +optional
	PreferredVideoType *string `json:"preferredVideoType,omitempty"`
}

// FeaturePreferences are defaults for the domain's features.
type FeaturePreferences struct {
	// +optional
	PreferredAcpi *v1.FeatureState `json:"preferredAcpi,omitempty"`
	// +optional
	PreferredApic *v1.FeatureAPIC `json:"preferredApic,omitempty"`
	// +optional
	PreferredHyperv *v1.FeatureHyperv `json:"preferredHyperv,omitempty"`
	// +optional
	PreferredKvm *v1.FeatureKVM `json:"preferredKvm,omitempty"`
	// +optional
	PreferredPvspinlock *v1.FeatureState `json:"preferredPvspinlock,omitempty"`
	// +optional
	PreferredSmm *v1.FeatureState `json:"preferredSmm,omitempty"`
}

// FirmwarePreferences are firmware defaults.
type FirmwarePreferences struct {
	// +optional
	PreferredUseBios *bool `json:"preferredUseBios,omitempty"`
	// +optional
	PreferredUseBiosSerial *bool `json:"preferredUseBiosSerial,omitempty"`
	// Deprecated by KubeVirt for preferredEfi.
	// +optional
	DeprecatedPreferredUseEfi *bool `json:"preferredUseEfi,omitempty"`
	// Deprecated by KubeVirt for preferredEfi.
	// +optional
	DeprecatedPreferredUseSecureBoot *bool `json:"preferredUseSecureBoot,omitempty"`
	// +optional
	PreferredEfi *v1.EFI `json:"preferredEfi,omitempty"`
}

// MachinePreferences are machine defaults.
type MachinePreferences struct {
	// +optional
	PreferredMachineType string `json:"preferredMachineType,omitempty"`
}

// ClockPreferences are clock defaults.
type ClockPreferences struct {
	// +optional
	PreferredClockOffset *v1.ClockOffset `json:"preferredClockOffset,omitempty"`
	// +optional
	PreferredTimer *v1.Timer `json:"preferredTimer,omitempty"`
}

// PreferenceRequirements are the least a VM must have to use the preference.
type PreferenceRequirements struct {
	// +optional
	CPU *CPUPreferenceRequirement `json:"cpu,omitempty"`
	// +optional
	Memory *MemoryPreferenceRequirement `json:"memory,omitempty"`
	// +optional
	Architecture *string `json:"architecture,omitempty"`
}

// CPUPreferenceRequirement is the least number of vCPUs.
type CPUPreferenceRequirement struct {
	Guest uint32 `json:"guest"`
}

// MemoryPreferenceRequirement is the least guest memory.
type MemoryPreferenceRequirement struct {
	Guest resource.Quantity `json:"guest"`
}
