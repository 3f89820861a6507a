package v1

import (
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// VirtualMachineInstance is a running virtual machine: one guest, in one virt-launcher pod,
// on one node. It is usually created by a VirtualMachine and lives as long as the guest runs.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vmi;vmis,categories=all
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Phase",type="string",JSONPath=".status.phase"
// +kubebuilder:printcolumn:name="IP",type="string",JSONPath=".status.interfaces[0].ipAddress"
// +kubebuilder:printcolumn:name="NodeName",type="string",JSONPath=".status.nodeName"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type=='Ready')].status"
// +kubebuilder:printcolumn:name="Live-Migratable",type="string",JSONPath=".status.conditions[?(@.type=='LiveMigratable')].status",priority=1
// +kubebuilder:printcolumn:name="Paused",type="string",JSONPath=".status.conditions[?(@.type=='Paused')].status",priority=1
type VirtualMachineInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the desired guest: its virtual hardware, volumes and networks.
	Spec VirtualMachineInstanceSpec `json:"spec"`
	// Status is the observed state of the guest, written by virt-controller and virt-handler.
	// +optional
	Status VirtualMachineInstanceStatus `json:"status,omitempty"`
}

// VirtualMachineInstanceList is a list of VirtualMachineInstances.
//
// +kubebuilder:object:root=true
type VirtualMachineInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineInstance `json:"items"`
}

// EvictionStrategy says what happens to a VMI when its node is drained.
// +kubebuilder:validation:Enum=None;LiveMigrate;LiveMigrateIfPossible;External
type EvictionStrategy string

const (
	// EvictionStrategyNone lets the eviction remove the VMI (the guest is shut down).
	EvictionStrategyNone EvictionStrategy = "None"
	// EvictionStrategyLiveMigrate blocks eviction until the VMI is live-migrated away.
	EvictionStrategyLiveMigrate EvictionStrategy = "LiveMigrate"
	// EvictionStrategyLiveMigrateIfPossible migrates when possible, otherwise shuts down.
	EvictionStrategyLiveMigrateIfPossible EvictionStrategy = "LiveMigrateIfPossible"
	// EvictionStrategyExternal blocks eviction and leaves it to an external controller
	// (Cluster API's KubeVirt provider drains the nested node, then deletes the VMI).
	EvictionStrategyExternal EvictionStrategy = "External"
)

// StartStrategy says how the guest starts.
// +kubebuilder:validation:Enum=Paused
type StartStrategy string

// StartStrategyPaused starts the guest paused; `virtctl unpause` lets it run.
const StartStrategyPaused StartStrategy = "Paused"

// VirtualMachineInstanceSpec is the desired state of a VirtualMachineInstance.
type VirtualMachineInstanceSpec struct {
	// PriorityClassName of the virt-launcher pod.
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// Domain is the guest's virtual hardware.
	Domain DomainSpec `json:"domain"`

	// NodeSelector must match a node's labels for the VMI to be scheduled there.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Affinity constrains which nodes the VMI's pod may be scheduled on.
	// +optional
	Affinity *k8sv1.Affinity `json:"affinity,omitempty"`
	// SchedulerName dispatches the VMI's pod to this scheduler instead of the default one.
	// +optional
	SchedulerName string `json:"schedulerName,omitempty"`
	// ServiceAccountName of the virt-launcher pod. The account's token is not exposed to
	// the guest (use a serviceAccount volume for that).
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Tolerations of the VMI's pod.
	// +optional
	// +listType=atomic
	Tolerations []k8sv1.Toleration `json:"tolerations,omitempty"`
	// TopologySpreadConstraints of the VMI's pod.
	// +optional
	// +listType=map
	// +listMapKey=topologyKey
	// +listMapKey=whenUnsatisfiable
	TopologySpreadConstraints []k8sv1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// EvictionStrategy says what happens when the VMI's node is drained. Defaults to the
	// cluster-wide KubeVirt configuration.
	// +optional
	EvictionStrategy *EvictionStrategy `json:"evictionStrategy,omitempty"`
	// StartStrategy, when Paused, starts the guest paused.
	// +optional
	StartStrategy *StartStrategy `json:"startStrategy,omitempty"`
	// TerminationGracePeriodSeconds is how long the guest may take to shut down after an
	// ACPI power-off before it is killed. Defaults to 30; 0 kills it at once.
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`

	// Volumes that disks, filesystems and cloud-init can refer to by name.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Volumes []Volume `json:"volumes,omitempty"`

	// ReadinessProbe decides when the VMI is Ready (guest-level check).
	// +optional
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`
	// LivenessProbe restarts (fails) the VMI when the guest stops answering.
	// +optional
	LivenessProbe *Probe `json:"livenessProbe,omitempty"`

	// Hostname of the guest, as DHCP hands it out. Defaults to the VMI's name.
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// Subdomain makes the guest reachable as <hostname>.<subdomain>.<namespace>.svc through a
	// headless Service of that name.
	// +optional
	Subdomain string `json:"subdomain,omitempty"`

	// Networks the guest's interfaces connect to.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Networks []Network `json:"networks,omitempty"`

	// DNSPolicy of the virt-launcher pod; the guest receives the pod's resolver settings.
	// +optional
	DNSPolicy k8sv1.DNSPolicy `json:"dnsPolicy,omitempty"`
	// DNSConfig of the virt-launcher pod.
	// +optional
	DNSConfig *k8sv1.PodDNSConfig `json:"dnsConfig,omitempty"`

	// AccessCredentials injected into the guest (SSH keys, passwords).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	AccessCredentials []AccessCredential `json:"accessCredentials,omitempty"`

	// Architecture of the guest (amd64, arm64, s390x). Defaults to the cluster's default.
	// +optional
	Architecture string `json:"architecture,omitempty"`
}

// AccessCredential injects credentials into the guest. Exactly one member may be set.
type AccessCredential struct {
	// SSHPublicKey injects the public keys of a Secret into the guest.
	// +optional
	SSHPublicKey *SSHPublicKeyAccessCredential `json:"sshPublicKey,omitempty"`
	// UserPassword sets the passwords of guest users from a Secret.
	// +optional
	UserPassword *UserPasswordAccessCredential `json:"userPassword,omitempty"`
}

// SSHPublicKeyAccessCredential injects the public keys found in a Secret.
type SSHPublicKeyAccessCredential struct {
	// Source of the keys.
	Source SSHPublicKeyAccessCredentialSource `json:"source"`
	// PropagationMethod says how the keys reach the guest.
	PropagationMethod SSHPublicKeyAccessCredentialPropagationMethod `json:"propagationMethod"`
}

// SSHPublicKeyAccessCredentialSource is where the public keys come from.
type SSHPublicKeyAccessCredentialSource struct {
	// Secret whose values are authorized_keys lines.
	// +optional
	Secret *AccessCredentialSecretSource `json:"secret,omitempty"`
}

// SSHPublicKeyAccessCredentialPropagationMethod says how keys reach the guest.
type SSHPublicKeyAccessCredentialPropagationMethod struct {
	// ConfigDrive adds the keys to the cloud-init config drive's metadata.
	// +optional
	ConfigDrive *ConfigDriveSSHPublicKeyAccessCredentialPropagation `json:"configDrive,omitempty"`
	// NoCloud adds the keys to the cloud-init NoCloud metadata.
	// +optional
	NoCloud *NoCloudSSHPublicKeyAccessCredentialPropagation `json:"noCloud,omitempty"`
	// QemuGuestAgent writes the keys through the guest agent.
	// +optional
	QemuGuestAgent *QemuGuestAgentSSHPublicKeyAccessCredentialPropagation `json:"qemuGuestAgent,omitempty"`
}

// ConfigDriveSSHPublicKeyAccessCredentialPropagation has no settings.
type ConfigDriveSSHPublicKeyAccessCredentialPropagation struct{}

// NoCloudSSHPublicKeyAccessCredentialPropagation has no settings.
type NoCloudSSHPublicKeyAccessCredentialPropagation struct{}

// QemuGuestAgentSSHPublicKeyAccessCredentialPropagation writes the keys for these users.
type QemuGuestAgentSSHPublicKeyAccessCredentialPropagation struct {
	// Users whose authorized_keys file receives the keys.
	// +listType=set
	Users []string `json:"users"`
}

// UserPasswordAccessCredential sets guest user passwords.
type UserPasswordAccessCredential struct {
	// Source of the passwords.
	Source UserPasswordAccessCredentialSource `json:"source"`
	// PropagationMethod says how the passwords reach the guest.
	PropagationMethod UserPasswordAccessCredentialPropagationMethod `json:"propagationMethod"`
}

// UserPasswordAccessCredentialSource is where the passwords come from.
type UserPasswordAccessCredentialSource struct {
	// Secret mapping user names to passwords.
	// +optional
	Secret *AccessCredentialSecretSource `json:"secret,omitempty"`
}

// UserPasswordAccessCredentialPropagationMethod says how passwords reach the guest.
type UserPasswordAccessCredentialPropagationMethod struct {
	// QemuGuestAgent sets the passwords through the guest agent.
	// +optional
	QemuGuestAgent *QemuGuestAgentUserPasswordAccessCredentialPropagation `json:"qemuGuestAgent,omitempty"`
}

// QemuGuestAgentUserPasswordAccessCredentialPropagation has no settings.
type QemuGuestAgentUserPasswordAccessCredentialPropagation struct{}

// AccessCredentialSecretSource names a Secret in the VMI's namespace.
type AccessCredentialSecretSource struct {
	// SecretName is the Secret's name.
	SecretName string `json:"secretName"`
}

// VirtualMachineInstancePhase is where a VMI is in its life.
type VirtualMachineInstancePhase string

const (
	// VmPhaseUnset is the phase of a VMI nobody has looked at yet.
	VmPhaseUnset VirtualMachineInstancePhase = ""
	// Pending: the VMI is accepted; its pod is not created yet.
	Pending VirtualMachineInstancePhase = "Pending"
	// Scheduling: the virt-launcher pod exists and waits for a node.
	Scheduling VirtualMachineInstancePhase = "Scheduling"
	// Scheduled: the pod runs on a node; virt-handler takes over from here.
	Scheduled VirtualMachineInstancePhase = "Scheduled"
	// Running: the guest's domain is started.
	Running VirtualMachineInstancePhase = "Running"
	// Succeeded: the guest shut down by itself or on request.
	Succeeded VirtualMachineInstancePhase = "Succeeded"
	// Failed: the guest or its pod crashed, or could not start.
	Failed VirtualMachineInstancePhase = "Failed"
	// Unknown: the VMI's state cannot be determined (its node is unreachable).
	Unknown VirtualMachineInstancePhase = "Unknown"
)

// IsFinal reports whether the phase is one a VMI never leaves.
func (p VirtualMachineInstancePhase) IsFinal() bool { return p == Succeeded || p == Failed }

// VirtualMachineInstanceStatus is the observed state of a VirtualMachineInstance.
type VirtualMachineInstanceStatus struct {
	// NodeName is the node the VMI runs on.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// Reason is a short, CamelCase explanation of why the VMI is in its phase.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Conditions of the VMI: Ready, Paused, LiveMigratable, ...
	// +optional
	// +listType=atomic
	Conditions []VirtualMachineInstanceCondition `json:"conditions,omitempty"`
	// Phase is where the VMI is in its life: Pending, Scheduling, Scheduled, Running,
	// Succeeded, Failed or Unknown.
	// +optional
	Phase VirtualMachineInstancePhase `json:"phase,omitempty"`
	// PhaseTransitionTimestamps records when the VMI entered each phase.
	// +optional
	// +listType=atomic
	PhaseTransitionTimestamps []VirtualMachineInstancePhaseTransitionTimestamp `json:"phaseTransitionTimestamps,omitempty"`
	// Interfaces are the guest's network interfaces as seen on the node and in the guest.
	// +optional
	// +listType=atomic
	Interfaces []VirtualMachineInstanceNetworkInterface `json:"interfaces,omitempty"`
	// GuestOSInfo is what the guest agent reports about the operating system.
	// +optional
	GuestOSInfo VirtualMachineInstanceGuestOSInfo `json:"guestOSInfo,omitempty"`
	// QOSClass of the virt-launcher pod.
	// +optional
	QOSClass *k8sv1.PodQOSClass `json:"qosClass,omitempty"`
	// LauncherContainerImageVersion is the virt-launcher image the guest runs in.
	// +optional
	LauncherContainerImageVersion string `json:"launcherContainerImageVersion,omitempty"`
	// EvacuationNodeName is set while the VMI must leave that node.
	// +optional
	EvacuationNodeName string `json:"evacuationNodeName,omitempty"`
	// MigrationState is the VMI's current or last live migration.
	// +optional
	MigrationState *VirtualMachineInstanceMigrationState `json:"migrationState,omitempty"`
	// MigrationMethod is how the last live migration moved the guest: BlockMigration
	// when it copied the pod's local disks along with the memory, LiveMigration when
	// the disks are shared.
	// +optional
	MigrationMethod VirtualMachineInstanceMigrationMethod `json:"migrationMethod,omitempty"`
	// MigrationTransport is how the last live migration's streams travelled between the
	// nodes: Unix (each stream a unix socket in the launcher pods, joined by the handlers
	// over mutual TLS).
	// +optional
	MigrationTransport VirtualMachineInstanceMigrationTransport `json:"migrationTransport,omitempty"`
	// ActivePods maps the UIDs of the VMI's pods to their node names.
	// +optional
	ActivePods map[types.UID]string `json:"activePods,omitempty"`
	// VolumeStatus reports the state of each volume.
	// +optional
	// +listType=atomic
	VolumeStatus []VolumeStatus `json:"volumeStatus,omitempty"`
	// VirtualMachineRevisionName names the revision of the VM the VMI was created from.
	// +optional
	VirtualMachineRevisionName string `json:"virtualMachineRevisionName,omitempty"`
	// RuntimeUser is the uid the guest's processes run as on the node.
	// +optional
	RuntimeUser uint64 `json:"runtimeUser,omitempty"`
	// Machine is the machine type the guest actually runs with.
	// +optional
	Machine *Machine `json:"machine,omitempty"`
	// CurrentCPUTopology is the CPU topology the guest runs with.
	// +optional
	CurrentCPUTopology *CPUTopology `json:"currentCPUTopology,omitempty"`
	// Memory reports the guest's memory at boot, now and as requested.
	// +optional
	Memory *MemoryStatus `json:"memory,omitempty"`
	// SelinuxContext of the virt-launcher pod.
	// +optional
	SelinuxContext string `json:"selinuxContext,omitempty"`
}

// VirtualMachineInstanceConditionType names a VMI condition.
type VirtualMachineInstanceConditionType string

const (
	// VirtualMachineInstanceReady is True when the guest runs and passed its readiness probe.
	VirtualMachineInstanceReady VirtualMachineInstanceConditionType = "Ready"
	// VirtualMachineInstancePaused is True while the guest is paused.
	VirtualMachineInstancePaused VirtualMachineInstanceConditionType = "Paused"
	// VirtualMachineInstanceIsMigratable says whether the VMI can be live-migrated.
	VirtualMachineInstanceIsMigratable VirtualMachineInstanceConditionType = "LiveMigratable"
	// VirtualMachineInstanceProvisioning is True while volumes are still being prepared.
	VirtualMachineInstanceProvisioning VirtualMachineInstanceConditionType = "Provisioning"
	// VirtualMachineInstanceSynchronized is False when virt-handler could not apply the spec.
	VirtualMachineInstanceSynchronized VirtualMachineInstanceConditionType = "Synchronized"
	// VirtualMachineInstanceAgentConnected is True while the guest agent answers.
	VirtualMachineInstanceAgentConnected VirtualMachineInstanceConditionType = "AgentConnected"
)

// Reasons used on VMI conditions.
const (
	// PodTerminatingReason: the VMI's pod is going away, so the VMI is not ready.
	PodTerminatingReason = "PodTerminating"
	// PodNotExistsReason: the VMI's pod is gone.
	PodNotExistsReason = "PodNotExists"
	// PausedByUserReason: the guest was paused through the pause subresource.
	PausedByUserReason = "PausedByUser"
	// PausedIOErrorReason: the guest paused itself on a disk I/O error, e.g. its host ran
	// out of space; virt-handler resumes it with a growing delay.
	PausedIOErrorReason = "PausedIOError"
	// GuestNotRunningReason: the guest's domain does not run.
	GuestNotRunningReason = "GuestNotRunning"
	// FailedCreate: the VMI's pod could not be created.
	FailedCreateReason = "FailedCreate"
	// SynchronizationFailedReason: virt-handler could not apply the spec to the domain.
	SynchronizationFailedReason = "Synchronizing with the Domain failed."
)

// VirtualMachineInstanceCondition is one condition of a VMI.
type VirtualMachineInstanceCondition struct {
	// Type of the condition.
	Type VirtualMachineInstanceConditionType `json:"type"`
	// Status: True, False or Unknown.
	Status k8sv1.ConditionStatus `json:"status"`
	// LastProbeTime is when the condition was last checked.
	// +optional
	// +nullable
	LastProbeTime metav1.Time `json:"lastProbeTime,omitempty"`
	// LastTransitionTime is when the status last changed.
	// +optional
	// +nullable
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// Reason is a CamelCase word for the last transition.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is a human-readable explanation.
	// +optional
	Message string `json:"message,omitempty"`
}

// VirtualMachineInstancePhaseTransitionTimestamp records when a VMI entered a phase.
type VirtualMachineInstancePhaseTransitionTimestamp struct {
	// Phase that was entered.
	// +optional
	Phase VirtualMachineInstancePhase `json:"phase,omitempty"`
	// PhaseTransitionTimestamp is when it was entered.
	// +optional
	// +nullable
	PhaseTransitionTimestamp metav1.Time `json:"phaseTransitionTimestamp,omitempty"`
}

// VirtualMachineInstanceNetworkInterface is one guest interface as observed.
type VirtualMachineInstanceNetworkInterface struct {
	// IP is the interface's primary IP address.
	// +optional
	IP string `json:"ipAddress,omitempty"`
	// MAC address of the interface.
	// +optional
	MAC string `json:"mac,omitempty"`
	// Name of the interface in the VMI spec (spec.domain.devices.interfaces[].name).
	// +optional
	Name string `json:"name,omitempty"`
	// IPs are all addresses of the interface.
	// +optional
	// +listType=atomic
	IPs []string `json:"ipAddresses,omitempty"`
	// PodInterfaceName is the interface of the pod the guest interface is bound to.
	// +optional
	PodInterfaceName string `json:"podInterfaceName,omitempty"`
	// InterfaceName is the interface's name inside the guest (from the guest agent).
	// +optional
	InterfaceName string `json:"interfaceName,omitempty"`
	// InfoSource says where this information came from: domain, guest-agent, multus-status,
	// joined with commas.
	// +optional
	InfoSource string `json:"infoSource,omitempty"`
	// QueueCount is the number of queues of the interface.
	// +optional
	QueueCount int32 `json:"queueCount,omitempty"`
	// LinkState of the interface: up or down.
	// +optional
	LinkState string `json:"linkState,omitempty"`
}

// VirtualMachineInstanceGuestOSInfo is what the guest agent says about the guest OS.
type VirtualMachineInstanceGuestOSInfo struct {
	// Name of the OS.
	// +optional
	Name string `json:"name,omitempty"`
	// KernelRelease of the guest.
	// +optional
	KernelRelease string `json:"kernelRelease,omitempty"`
	// Version of the OS.
	// +optional
	Version string `json:"version,omitempty"`
	// PrettyName of the OS.
	// +optional
	PrettyName string `json:"prettyName,omitempty"`
	// VersionID of the OS.
	// +optional
	VersionID string `json:"versionId,omitempty"`
	// KernelVersion of the guest.
	// +optional
	KernelVersion string `json:"kernelVersion,omitempty"`
	// Machine architecture of the guest.
	// +optional
	Machine string `json:"machine,omitempty"`
	// ID of the OS.
	// +optional
	ID string `json:"id,omitempty"`
}

// VolumePhase is where a volume is in its preparation.
type VolumePhase string

// VolumeStatus reports one volume of the VMI.
type VolumeStatus struct {
	// Name of the volume.
	Name string `json:"name"`
	// Target is the device name the volume has in the domain (vda, sdb, ...).
	Target string `json:"target"`
	// Phase of the volume.
	// +optional
	Phase VolumePhase `json:"phase,omitempty"`
	// Reason for the phase.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message explaining the phase.
	// +optional
	Message string `json:"message,omitempty"`
	// PersistentVolumeClaimInfo describes the claim behind the volume, if any.
	// +optional
	PersistentVolumeClaimInfo *PersistentVolumeClaimInfo `json:"persistentVolumeClaimInfo,omitempty"`
	// Size of the volume in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`
	// ContainerDiskVolume describes a containerDisk volume.
	// +optional
	ContainerDiskVolume *ContainerDiskInfo `json:"containerDiskVolume,omitempty"`
}

// PersistentVolumeClaimInfo describes the PVC behind a volume.
type PersistentVolumeClaimInfo struct {
	// ClaimName of the PVC.
	// +optional
	ClaimName string `json:"claimName,omitempty"`
	// AccessModes of the PVC.
	// +optional
	// +listType=atomic
	AccessModes []k8sv1.PersistentVolumeAccessMode `json:"accessModes,omitempty"`
	// VolumeMode of the PVC.
	// +optional
	VolumeMode *k8sv1.PersistentVolumeMode `json:"volumeMode,omitempty"`
	// Capacity of the PVC.
	// +optional
	Capacity k8sv1.ResourceList `json:"capacity,omitempty"`
	// Requests of the PVC.
	// +optional
	Requests k8sv1.ResourceList `json:"requests,omitempty"`
	// Preallocated is true when the disk image was preallocated.
	// +optional
	Preallocated bool `json:"preallocated,omitempty"`
	// FilesystemOverhead is the share of the PVC the filesystem takes.
	// +optional
	FilesystemOverhead *string `json:"filesystemOverhead,omitempty"`
}

// ContainerDiskInfo describes a containerDisk volume.
type ContainerDiskInfo struct {
	// Checksum of the disk image.
	// +optional
	Checksum uint32 `json:"checksum,omitempty"`
}

// CPUTopology is a guest CPU topology.
type CPUTopology struct {
	// Cores per socket.
	// +optional
	Cores uint32 `json:"cores,omitempty"`
	// Sockets of the guest.
	// +optional
	Sockets uint32 `json:"sockets,omitempty"`
	// Threads per core.
	// +optional
	Threads uint32 `json:"threads,omitempty"`
}

// MemoryStatus reports the guest's memory.
type MemoryStatus struct {
	// GuestAtBoot is the memory the guest booted with.
	// +optional
	GuestAtBoot *resource.Quantity `json:"guestAtBoot,omitempty"`
	// GuestCurrent is the memory the guest has now.
	// +optional
	GuestCurrent *resource.Quantity `json:"guestCurrent,omitempty"`
	// GuestRequested is the memory asked for.
	// +optional
	GuestRequested *resource.Quantity `json:"guestRequested,omitempty"`
}
