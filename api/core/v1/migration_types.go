package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// VirtualMachineInstanceMigration asks for a running VMI to be live-migrated to another
// node. One may be in flight per VMI; it ends Succeeded or Failed and is kept as a record.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vmim;vmims,categories=all
// +kubebuilder:printcolumn:name="Phase",type="string",JSONPath=".status.phase",description="The current phase of VM instance migration"
// +kubebuilder:printcolumn:name="VMI",type="string",JSONPath=".spec.vmiName",description="The name of the VMI to perform the migration on"
type VirtualMachineInstanceMigration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec names the VMI to migrate.
	Spec VirtualMachineInstanceMigrationSpec `json:"spec"`
	// Status is the observed state of the migration.
	// +optional
	Status VirtualMachineInstanceMigrationStatus `json:"status,omitempty"`
}

// VirtualMachineInstanceMigrationList is a list of migrations.
//
// +kubebuilder:object:root=true
type VirtualMachineInstanceMigrationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineInstanceMigration `json:"items"`
}

// VirtualMachineInstanceMigrationSpec is what a migration asks for.
type VirtualMachineInstanceMigrationSpec struct {
	// VMIName is the VMI to migrate, in the migration's namespace.
	// +optional
	VMIName string `json:"vmiName,omitempty"`
	// AddedNodeSelector narrows the nodes the VMI may move to. It only restricts: where a
	// key is also in the VMI's own node selector, the VMI's value wins.
	// +optional
	AddedNodeSelector map[string]string `json:"addedNodeSelector,omitempty"`
	// Priority orders migrations waiting for a slot. Only virt-controller may set it.
	// +optional
	Priority *MigrationPriority `json:"priority,omitempty"`
}

// MigrationPriority is a migration's place in the queue.
// +kubebuilder:validation:Enum=system-critical;user-triggered;system-maintenance
type MigrationPriority string

const (
	// PrioritySystemCritical is for migrations the cluster's health depends on.
	PrioritySystemCritical MigrationPriority = "system-critical"
	// PriorityUserTriggered is for migrations a user asked for.
	PriorityUserTriggered MigrationPriority = "user-triggered"
	// PrioritySystemMaintenance is for migrations of node drains and workload updates.
	PrioritySystemMaintenance MigrationPriority = "system-maintenance"
)

// VirtualMachineInstanceMigrationPhase is where a migration is in its life.
type VirtualMachineInstanceMigrationPhase string

// A migration's phases, in order; it ends Succeeded or Failed.
const (
	MigrationPhaseUnset      VirtualMachineInstanceMigrationPhase = ""
	MigrationPending         VirtualMachineInstanceMigrationPhase = "Pending"
	MigrationScheduling      VirtualMachineInstanceMigrationPhase = "Scheduling"
	MigrationScheduled       VirtualMachineInstanceMigrationPhase = "Scheduled"
	MigrationPreparingTarget VirtualMachineInstanceMigrationPhase = "PreparingTarget"
	MigrationTargetReady     VirtualMachineInstanceMigrationPhase = "TargetReady"
	MigrationRunning         VirtualMachineInstanceMigrationPhase = "Running"
	MigrationSucceeded       VirtualMachineInstanceMigrationPhase = "Succeeded"
	MigrationFailed          VirtualMachineInstanceMigrationPhase = "Failed"
)

// IsFinal reports whether the phase is one a migration never leaves.
func (p VirtualMachineInstanceMigrationPhase) IsFinal() bool {
	return p == MigrationSucceeded || p == MigrationFailed
}

// VirtualMachineInstanceMigrationStatus is the observed state of a migration.
type VirtualMachineInstanceMigrationStatus struct {
	// Phase is where the migration is: Pending, Scheduling, Scheduled, PreparingTarget,
	// TargetReady, Running, Succeeded or Failed.
	// +optional
	Phase VirtualMachineInstanceMigrationPhase `json:"phase,omitempty"`
	// Conditions of the migration.
	// +optional
	// +listType=atomic
	Conditions []VirtualMachineInstanceMigrationCondition `json:"conditions,omitempty"`
	// PhaseTransitionTimestamps records when the migration entered each phase.
	// +optional
	// +listType=atomic
	PhaseTransitionTimestamps []VirtualMachineInstanceMigrationPhaseTransitionTimestamp `json:"phaseTransitionTimestamps,omitempty"`
	// MigrationState is the VMI's migration state, copied once the migration ended.
	// +optional
	MigrationState *VirtualMachineInstanceMigrationState `json:"migrationState,omitempty"`
}

// VirtualMachineInstanceMigrationConditionType names a migration condition.
type VirtualMachineInstanceMigrationConditionType string

const (
	// VirtualMachineInstanceMigrationAbortRequested is True once the migration was
	// deleted while running: the source keeps the VMI.
	VirtualMachineInstanceMigrationAbortRequested VirtualMachineInstanceMigrationConditionType = "migrationAbortRequested"
	// VirtualMachineInstanceMigrationRejectedByResourceQuota is True while the target pod
	// cannot be created for the namespace's resource quota.
	VirtualMachineInstanceMigrationRejectedByResourceQuota VirtualMachineInstanceMigrationConditionType = "migrationRejectedByResourceQuota"
)

// VirtualMachineInstanceMigrationCondition is one condition of a migration.
type VirtualMachineInstanceMigrationCondition struct {
	Type   VirtualMachineInstanceMigrationConditionType `json:"type"`
	Status metav1.ConditionStatus                       `json:"status"`
	// +optional
	// +nullable
	LastProbeTime metav1.Time `json:"lastProbeTime,omitempty"`
	// +optional
	// +nullable
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// VirtualMachineInstanceMigrationPhaseTransitionTimestamp is when a migration entered a
// phase.
type VirtualMachineInstanceMigrationPhaseTransitionTimestamp struct {
	// +optional
	Phase VirtualMachineInstanceMigrationPhase `json:"phase,omitempty"`
	// +optional
	PhaseTransitionTimestamp metav1.Time `json:"phaseTransitionTimestamp,omitempty"`
}

// MigrationAbortStatus is how far the abort of a migration got.
type MigrationAbortStatus string

// KubeVirt's abort statuses.
const (
	MigrationAbortSucceeded  MigrationAbortStatus = "Succeeded"
	MigrationAbortFailed     MigrationAbortStatus = "Failed"
	MigrationAbortInProgress MigrationAbortStatus = "Aborting"
)

// MigrationMode is how the memory is moved: pre-copy, post-copy, or with the guest paused.
type MigrationMode string

// KubeVirt's migration modes.
const (
	MigrationPreCopy  MigrationMode = "PreCopy"
	MigrationPostCopy MigrationMode = "PostCopy"
	MigrationPaused   MigrationMode = "Paused"
)

// VirtualMachineInstanceMigrationMethod is how a migration moved the guest's disks.
type VirtualMachineInstanceMigrationMethod string

// KubeVirt's migration methods.
const (
	// BlockMigration copied the pod's local disks with the memory.
	BlockMigration VirtualMachineInstanceMigrationMethod = "BlockMigration"
	// LiveMigration moved the memory only; the disks are shared.
	LiveMigration VirtualMachineInstanceMigrationMethod = "LiveMigration"
)

// VirtualMachineInstanceMigrationTransport is how a migration's streams travel.
type VirtualMachineInstanceMigrationTransport string

// MigrationTransportUnix: each stream is a unix socket in the launcher pods, joined
// between the nodes by the handlers (KubeVirt's only transport).
const MigrationTransportUnix VirtualMachineInstanceMigrationTransport = "Unix"

// AllowPodBridgeNetworkLiveMigrationAnnotation on a VMI lets a guest bridged to the pod
// network migrate: its address changes with the pod's, which the guest must pick up
// (KubeVirt's annotation).
const AllowPodBridgeNetworkLiveMigrationAnnotation = "kubevirt.io/allow-pod-bridge-network-live-migration"

// VirtualMachineInstanceMigrationState is a VMI's current or last migration, on the VMI's
// status and, once ended, on the migration's.
type VirtualMachineInstanceMigrationState struct {
	// StartTimestamp is when the memory transfer began.
	// +optional
	// +nullable
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`
	// EndTimestamp is when the migration ended, either way.
	// +optional
	// +nullable
	EndTimestamp *metav1.Time `json:"endTimestamp,omitempty"`
	// TargetNodeDomainReadyTimestamp is when the domain became active on the target.
	// +optional
	TargetNodeDomainReadyTimestamp *metav1.Time `json:"targetNodeDomainReadyTimestamp,omitempty"`
	// TargetNodeDomainDetected is true once the target saw the domain arrive.
	// +optional
	TargetNodeDomainDetected bool `json:"targetNodeDomainDetected,omitempty"`
	// TargetNodeAddress is the address the target node receives the migration on.
	// +optional
	TargetNodeAddress string `json:"targetNodeAddress,omitempty"`
	// TargetDirectMigrationNodePorts maps the target's listening ports to what they carry.
	// +optional
	TargetDirectMigrationNodePorts map[string]int `json:"targetDirectMigrationNodePorts,omitempty"`
	// TargetNode is the node the VMI moves to.
	// +optional
	TargetNode string `json:"targetNode,omitempty"`
	// TargetPod is the virt-launcher pod the VMI moves into.
	// +optional
	TargetPod string `json:"targetPod,omitempty"`
	// TargetAttachmentPodUID is the target's hotplug attachment pod.
	// +optional
	TargetAttachmentPodUID types.UID `json:"targetAttachmentPodUID,omitempty"`
	// SourceNode is the node the VMI leaves.
	// +optional
	SourceNode string `json:"sourceNode,omitempty"`
	// SourcePod is the virt-launcher pod the VMI leaves.
	// +optional
	SourcePod string `json:"sourcePod,omitempty"`
	// Completed is true once the migration succeeded.
	// +optional
	Completed bool `json:"completed,omitempty"`
	// Failed is true once the migration failed.
	// +optional
	Failed bool `json:"failed,omitempty"`
	// AbortRequested is true once the migration was asked to stop.
	// +optional
	AbortRequested bool `json:"abortRequested,omitempty"`
	// AbortStatus is Aborting, Succeeded or Failed.
	// +optional
	AbortStatus MigrationAbortStatus `json:"abortStatus,omitempty"`
	// FailureReason says why the migration failed.
	// +optional
	FailureReason string `json:"failureReason,omitempty"`
	// MigrationUID is the UID of the VirtualMachineInstanceMigration (KubeVirt's JSON
	// name, migrationUid).
	// +optional
	MigrationUID types.UID `json:"migrationUid,omitempty"`
	// Mode is PreCopy, PostCopy or Paused.
	// +optional
	Mode MigrationMode `json:"mode,omitempty"`
	// MigrationPolicyName names the MigrationPolicy that applied, if one did.
	// +optional
	MigrationPolicyName *string `json:"migrationPolicyName,omitempty"`
	// MigrationConfiguration is what this migration runs with: the cluster's settings,
	// overlaid with those of the MigrationPolicy that applied. virt-controller writes it
	// when it hands the migration to the nodes.
	// +optional
	MigrationConfiguration *MigrationConfiguration `json:"migrationConfiguration,omitempty"`
}
