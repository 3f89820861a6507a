package v1

import (
	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// VirtualMachine is a stateful virtual machine: it creates, restarts and removes its
// VirtualMachineInstance according to its run strategy.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=vm;vms,categories=all
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Status",type="string",JSONPath=".status.printableStatus",description="Human readable status"
// +kubebuilder:printcolumn:name="Ready",type="string",JSONPath=".status.conditions[?(@.type=='Ready')].status"
type VirtualMachine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the desired state: the VMI template and whether it should run.
	Spec VirtualMachineSpec `json:"spec"`
	// Status is the observed state, written by virt-controller.
	// +optional
	Status VirtualMachineStatus `json:"status,omitempty"`
}

// VirtualMachineList is a list of VirtualMachines.
//
// +kubebuilder:object:root=true
type VirtualMachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachine `json:"items"`
}

// RunStrategy says when a VirtualMachine's instance should run.
// +kubebuilder:validation:Enum=Always;Halted;Manual;RerunOnFailure;Once;WaitAsReceiver
type RunStrategy string

const (
	// RunStrategyUnknown is the strategy of a VM that has none.
	RunStrategyUnknown RunStrategy = ""
	// RunStrategyAlways keeps a VMI running: it is recreated whenever it stops.
	RunStrategyAlways RunStrategy = "Always"
	// RunStrategyHalted keeps the VM stopped.
	RunStrategyHalted RunStrategy = "Halted"
	// RunStrategyManual leaves starting and stopping to the start/stop subresources.
	RunStrategyManual RunStrategy = "Manual"
	// RunStrategyRerunOnFailure recreates the VMI when it fails, not when it succeeds.
	RunStrategyRerunOnFailure RunStrategy = "RerunOnFailure"
	// RunStrategyOnce runs the VMI once and does not recreate it.
	RunStrategyOnce RunStrategy = "Once"
	// RunStrategyWaitAsReceiver waits for an incoming cross-cluster migration.
	RunStrategyWaitAsReceiver RunStrategy = "WaitAsReceiver"
)

// VirtualMachineSpec is the desired state of a VirtualMachine.
type VirtualMachineSpec struct {
	// Running, when true, keeps the VM running; when false, keeps it stopped.
	// Deprecated: use runStrategy (Always for true, Halted for false). Mutually exclusive
	// with runStrategy.
	// +optional
	Running *bool `json:"running,omitempty"`
	// RunStrategy says when the VM's instance should run: Always, Halted, Manual,
	// RerunOnFailure, Once or WaitAsReceiver. Mutually exclusive with running; when neither
	// is set the VM is Halted.
	// +optional
	RunStrategy *RunStrategy `json:"runStrategy,omitempty"`
	// Instancetype refers to a VirtualMachine(Cluster)Instancetype that supplies the
	// guest's resources.
	// +optional
	Instancetype *InstancetypeMatcher `json:"instancetype,omitempty"`
	// Preference refers to a VirtualMachine(Cluster)Preference that supplies defaults.
	// +optional
	Preference *PreferenceMatcher `json:"preference,omitempty"`
	// Template is the VirtualMachineInstance the VM creates.
	Template *VirtualMachineInstanceTemplateSpec `json:"template"`
	// DataVolumeTemplates are CDI DataVolumes created together with the VM.
	// +optional
	// +listType=atomic
	DataVolumeTemplates []DataVolumeTemplateSpec `json:"dataVolumeTemplates,omitempty"`
}

// InstancetypeMatcher refers to an instancetype.
type InstancetypeMatcher struct {
	// Name of the instancetype.
	// +optional
	Name string `json:"name,omitempty"`
	// Kind: VirtualMachineInstancetype or VirtualMachineClusterInstancetype (default).
	// +optional
	Kind string `json:"kind,omitempty"`
	// RevisionName of the ControllerRevision pinning the instancetype's content.
	// +optional
	RevisionName string `json:"revisionName,omitempty"`
	// InferFromVolume infers the instancetype from a volume's labels.
	// +optional
	InferFromVolume string `json:"inferFromVolume,omitempty"`
	// InferFromVolumeFailurePolicy: Reject or Ignore.
	// +optional
	InferFromVolumeFailurePolicy *string `json:"inferFromVolumeFailurePolicy,omitempty"`
}

// InstancetypeStatusRef is the instance type or preference a VM uses, as captured.
type InstancetypeStatusRef struct {
	// Name of the instance type or preference.
	// +optional
	Name string `json:"name,omitempty"`
	// Kind of the instance type or preference.
	// +optional
	Kind string `json:"kind,omitempty"`
	// ControllerRevisionRef is the ControllerRevision that holds the captured content.
	// +optional
	ControllerRevisionRef *ControllerRevisionRef `json:"controllerRevisionRef,omitempty"`
	// InferFromVolume the matcher named.
	// +optional
	InferFromVolume string `json:"inferFromVolume,omitempty"`
	// InferFromVolumeFailurePolicy the matcher named.
	// +optional
	InferFromVolumeFailurePolicy *string `json:"inferFromVolumeFailurePolicy,omitempty"`
}

// ControllerRevisionRef names a ControllerRevision in the VM's namespace.
type ControllerRevisionRef struct {
	// Name of the ControllerRevision.
	// +optional
	Name string `json:"name,omitempty"`
}

// PreferenceMatcher refers to a preference.
type PreferenceMatcher struct {
	// Name of the preference.
	// +optional
	Name string `json:"name,omitempty"`
	// Kind: VirtualMachinePreference or VirtualMachineClusterPreference (default).
	// +optional
	Kind string `json:"kind,omitempty"`
	// RevisionName of the ControllerRevision pinning the preference's content.
	// +optional
	RevisionName string `json:"revisionName,omitempty"`
	// InferFromVolume infers the preference from a volume's labels.
	// +optional
	InferFromVolume string `json:"inferFromVolume,omitempty"`
	// InferFromVolumeFailurePolicy: Reject or Ignore.
	// +optional
	InferFromVolumeFailurePolicy *string `json:"inferFromVolumeFailurePolicy,omitempty"`
}

// DataVolumeTemplateSpec is a CDI DataVolume created with the VM. Its spec is CDI's and
// is passed through unchanged.
type DataVolumeTemplateSpec struct {
	metav1.TypeMeta `json:",inline"`
	// Metadata of the DataVolume.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +nullable
	ObjectMeta metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec of the DataVolume, as CDI defines it.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Spec runtime.RawExtension `json:"spec"`
}

// VirtualMachineInstanceTemplateSpec is the VMI a VM or replica set creates.
type VirtualMachineInstanceTemplateSpec struct {
	// ObjectMeta of the VMI; labels and annotations are copied to it.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +nullable
	// +optional
	ObjectMeta metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec of the VMI.
	// +optional
	Spec VirtualMachineInstanceSpec `json:"spec,omitempty"`
}

// VirtualMachinePrintableStatus is the one-word status `kubectl get vm` shows.
type VirtualMachinePrintableStatus string

// Printable statuses of a VirtualMachine.
const (
	VirtualMachineStatusStopped                 VirtualMachinePrintableStatus = "Stopped"
	VirtualMachineStatusProvisioning            VirtualMachinePrintableStatus = "Provisioning"
	VirtualMachineStatusStarting                VirtualMachinePrintableStatus = "Starting"
	VirtualMachineStatusRunning                 VirtualMachinePrintableStatus = "Running"
	VirtualMachineStatusPaused                  VirtualMachinePrintableStatus = "Paused"
	VirtualMachineStatusStopping                VirtualMachinePrintableStatus = "Stopping"
	VirtualMachineStatusTerminating             VirtualMachinePrintableStatus = "Terminating"
	VirtualMachineStatusCrashLoopBackOff        VirtualMachinePrintableStatus = "CrashLoopBackOff"
	VirtualMachineStatusMigrating               VirtualMachinePrintableStatus = "Migrating"
	VirtualMachineStatusUnknown                 VirtualMachinePrintableStatus = "Unknown"
	VirtualMachineStatusUnschedulable           VirtualMachinePrintableStatus = "ErrorUnschedulable"
	VirtualMachineStatusErrImagePull            VirtualMachinePrintableStatus = "ErrImagePull"
	VirtualMachineStatusImagePullBackOff        VirtualMachinePrintableStatus = "ImagePullBackOff"
	VirtualMachineStatusPvcNotFound             VirtualMachinePrintableStatus = "ErrorPvcNotFound"
	VirtualMachineStatusDataVolumeError         VirtualMachinePrintableStatus = "DataVolumeError"
	VirtualMachineStatusWaitingForVolumeBinding VirtualMachinePrintableStatus = "WaitingForVolumeBinding"
	VirtualMachineStatusWaitingForReceiver      VirtualMachinePrintableStatus = "WaitingForReceiver"
)

// VirtualMachineStatus is the observed state of a VirtualMachine.
type VirtualMachineStatus struct {
	// SnapshotInProgress names the snapshot being taken.
	// +optional
	SnapshotInProgress *string `json:"snapshotInProgress,omitempty"`
	// RestoreInProgress names the restore being applied.
	// +optional
	RestoreInProgress *string `json:"restoreInProgress,omitempty"`
	// Created is true while the VM's VMI exists.
	// +optional
	Created bool `json:"created,omitempty"`
	// Ready is true while the VM's VMI is running and ready.
	// +optional
	Ready bool `json:"ready,omitempty"`
	// PrintableStatus is a one-word summary: Stopped, Starting, Running, Paused, Stopping,
	// Terminating, CrashLoopBackOff, ErrorUnschedulable, ...
	// +optional
	PrintableStatus VirtualMachinePrintableStatus `json:"printableStatus,omitempty"`
	// Conditions of the VM: Ready, Paused, Failure, ...
	// +optional
	// +listType=atomic
	Conditions []VirtualMachineCondition `json:"conditions,omitempty"`
	// StateChangeRequests are pending start/stop requests from the subresources.
	// +optional
	// +listType=atomic
	StateChangeRequests []VirtualMachineStateChangeRequest `json:"stateChangeRequests,omitempty"`
	// StartFailure tracks consecutive failed starts for the crash-loop back-off.
	// +optional
	// +nullable
	StartFailure *VirtualMachineStartFailure `json:"startFailure,omitempty"`
	// ObservedGeneration is the VM generation the controller last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// DesiredGeneration is the VM generation the VMI should reflect.
	// +optional
	DesiredGeneration int64 `json:"desiredGeneration,omitempty"`
	// RunStrategy in effect (the spec's, or the one derived from running).
	// +optional
	RunStrategy RunStrategy `json:"runStrategy,omitempty"`
	// InstancetypeRef is the instance type the VM uses and the ControllerRevision that
	// pins its content (virt-controller fills it).
	// +optional
	InstancetypeRef *InstancetypeStatusRef `json:"instancetypeRef,omitempty"`
	// PreferenceRef is the preference the VM uses and the ControllerRevision that pins
	// its content (virt-controller fills it).
	// +optional
	PreferenceRef *InstancetypeStatusRef `json:"preferenceRef,omitempty"`
	// VolumeSnapshotStatuses says which volumes can be snapshotted.
	// +optional
	// +listType=atomic
	VolumeSnapshotStatuses []VolumeSnapshotStatus `json:"volumeSnapshotStatuses,omitempty"`
}

// VolumeSnapshotStatus says whether a volume can be snapshotted.
type VolumeSnapshotStatus struct {
	// Name of the volume.
	Name string `json:"name"`
	// Enabled is true when the volume can be snapshotted.
	Enabled bool `json:"enabled"`
	// Reason it cannot.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// VirtualMachineConditionType names a VM condition.
type VirtualMachineConditionType string

const (
	// VirtualMachineFailure is True when the VM's last start failed.
	VirtualMachineFailure VirtualMachineConditionType = "Failure"
	// VirtualMachineReady mirrors the VMI's Ready condition.
	VirtualMachineReady VirtualMachineConditionType = "Ready"
	// VirtualMachinePaused mirrors the VMI's Paused condition.
	VirtualMachinePaused VirtualMachineConditionType = "Paused"
	// VirtualMachineRestartRequired is True when a spec change needs a restart.
	VirtualMachineRestartRequired VirtualMachineConditionType = "RestartRequired"
)

// VirtualMachineCondition is one condition of a VM.
type VirtualMachineCondition struct {
	// Type of the condition.
	Type VirtualMachineConditionType `json:"type"`
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

// StateChangeRequestAction is what a state change request asks for.
type StateChangeRequestAction string

const (
	// StartRequest asks for the VM to start.
	StartRequest StateChangeRequestAction = "Start"
	// StopRequest asks for the VM (the VMI with the given UID) to stop.
	StopRequest StateChangeRequestAction = "Stop"
)

// VirtualMachineStateChangeRequest is a pending start or stop request.
type VirtualMachineStateChangeRequest struct {
	// Action: Start or Stop.
	Action StateChangeRequestAction `json:"action"`
	// Data carries extra request information.
	// +optional
	Data map[string]string `json:"data,omitempty"`
	// UID of the VMI the request is about (Stop only).
	// +optional
	UID *types.UID `json:"uid,omitempty"`
}

// VirtualMachineStartFailure tracks consecutive start failures.
type VirtualMachineStartFailure struct {
	// ConsecutiveFailCount of starts that ended in failure.
	// +optional
	ConsecutiveFailCount int `json:"consecutiveFailCount,omitempty"`
	// LastFailedVMIUID is the UID of the VMI that failed last.
	// +optional
	LastFailedVMIUID types.UID `json:"lastFailedVMIUID,omitempty"`
	// RetryAfterTimestamp is when the next start may happen.
	// +optional
	RetryAfterTimestamp *metav1.Time `json:"retryAfterTimestamp,omitempty"`
}

// EffectiveRunStrategy is the run strategy a VM follows: spec.runStrategy, else the
// deprecated spec.running (true: Always, false or unset: Halted).
func (vm *VirtualMachine) EffectiveRunStrategy() RunStrategy {
	switch {
	case vm.Spec.RunStrategy != nil:
		return *vm.Spec.RunStrategy
	case vm.Spec.Running != nil && *vm.Spec.Running:
		return RunStrategyAlways
	default:
		return RunStrategyHalted
	}
}
