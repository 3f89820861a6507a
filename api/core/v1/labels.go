package v1

import (
	"crypto/sha1"
	"encoding/hex"
)

// Well-known labels, annotations and finalizers. Their values are KubeVirt's, so tools
// written for KubeVirt (selectors, dashboards, CAPK) find Hypernest's objects.
const (
	// AppLabel marks every object Hypernest creates; its value names the component.
	AppLabel = "kubevirt.io"

	// CreatedByLabel on a virt-launcher pod holds the UID of the VMI it runs.
	CreatedByLabel = "kubevirt.io/created-by"
	// DomainAnnotation on a virt-launcher pod holds the VMI's name.
	DomainAnnotation = "kubevirt.io/domain"
	// VirtualMachineInstanceIDLabel on a virt-launcher pod lets Services select one VMI.
	VirtualMachineInstanceIDLabel = "vmi.kubevirt.io/id"
	// OSAnnotation, WorkloadAnnotation and FlavorAnnotation describe a VM's guest as
	// templates (common-templates, the console's catalogue) write them; the os,
	// workload and flavor labels of kubevirt_vmi_info and kubevirt_vm_info come from
	// them.
	OSAnnotation       = "vm.kubevirt.io/os"
	WorkloadAnnotation = "vm.kubevirt.io/workload"
	FlavorAnnotation   = "vm.kubevirt.io/flavor"
	// VirtualMachineLabel is the label KubeVirt's examples put on VMs and their templates.
	VirtualMachineLabel = "kubevirt.io/vm"
	// VirtualMachineNameLabel on a VMI names the VM that created it.
	VirtualMachineNameLabel = "vm.kubevirt.io/name"
	// MigrationSelectorLabel on a VirtualMachineInstanceMigration names its VMI (virt-api
	// sets it), so a VMI's migrations are listed by label.
	MigrationSelectorLabel = "kubevirt.io/vmi-name"
	// MigrationFinalizer keeps a migration until it ended, so its target pod is cleaned up.
	MigrationFinalizer = "kubevirt.io/migrationJobFinalize"
	// MigrationJobLabel on a migration's target virt-launcher pod holds the migration's UID.
	MigrationJobLabel = "kubevirt.io/migrationJobUID"
	// MigrationJobNameAnnotation on a migration's target virt-launcher pod holds the
	// migration's name.
	MigrationJobNameAnnotation = "kubevirt.io/migrationJobName"
	// MigrationTargetNodeNameLabel on a VMI names the node it is migrating to: the
	// virt-handler there prepares the target.
	MigrationTargetNodeNameLabel = "kubevirt.io/migrationTargetNodeName"

	// InstancetypeAnnotation, ClusterInstancetypeAnnotation, PreferenceAnnotation and
	// ClusterPreferenceAnnotation on a VMI name the instance type and preference its VM
	// uses.
	InstancetypeAnnotation        = "kubevirt.io/instancetype-name"
	ClusterInstancetypeAnnotation = "kubevirt.io/cluster-instancetype-name"
	PreferenceAnnotation          = "kubevirt.io/preference-name"
	ClusterPreferenceAnnotation   = "kubevirt.io/cluster-preference-name"

	// DefaultInstancetypeLabel, DefaultInstancetypeKindLabel, DefaultPreferenceLabel and
	// DefaultPreferenceKindLabel on a PersistentVolumeClaim name the instance type and
	// preference a VM booting from it should have: spec.instancetype.inferFromVolume and
	// spec.preference.inferFromVolume read them.
	DefaultInstancetypeLabel     = "instancetype.kubevirt.io/default-instancetype"
	DefaultInstancetypeKindLabel = "instancetype.kubevirt.io/default-instancetype-kind"
	DefaultPreferenceLabel       = "instancetype.kubevirt.io/default-preference"
	DefaultPreferenceKindLabel   = "instancetype.kubevirt.io/default-preference-kind"

	// NodeNameLabel on a VMI names the node it runs on.
	NodeNameLabel = "kubevirt.io/nodeName"
	// NodeSchedulable on a Node is "true" while its virt-handler is alive and ready.
	NodeSchedulable = "kubevirt.io/schedulable"
	// VirtHandlerHeartbeat on a Node is the RFC 3339 time of virt-handler's last heartbeat.
	VirtHandlerHeartbeat = "kubevirt.io/heartbeat"

	// ManagedByLabel marks objects virt-operator owns.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByLabelOperatorValue is ManagedByLabel's value on objects virt-operator owns.
	ManagedByLabelOperatorValue = "virt-operator"

	// VirtualMachineInstanceFinalizer keeps a VMI until its guest is gone.
	VirtualMachineInstanceFinalizer = "kubevirt.io/foregroundDeleteVirtualMachine"
	// VirtualMachineControllerFinalizer keeps a VM until its VMI is gone.
	VirtualMachineControllerFinalizer = "kubevirt.io/virtualMachineControllerFinalize"
	// VirtOperatorComponentFinalizer keeps a KubeVirt object until its components are gone.
	VirtOperatorComponentFinalizer = "kubevirt.io/virtOperatorFinalizer"

	// StartRequestDataPausedKey in a Start state change request's data starts the VMI
	// paused when its value is StartRequestDataPausedTrue.
	StartRequestDataPausedKey  = "paused"
	StartRequestDataPausedTrue = "true"

	// DefaultGracePeriodSeconds is used when terminationGracePeriodSeconds is not set;
	// the same 30 s Kubernetes gives pods.
	DefaultGracePeriodSeconds int64 = 30
)

// VirtualMachineInstanceID is the value of VirtualMachineInstanceIDLabel for a VMI: its
// name, or, for a name longer than a label value may be (63), its first 54 characters,
// a dash and 8 hex digits of the name's SHA-1, as KubeVirt computes it, so Services
// made by KubeVirt's virtctl expose select Hypernest's pods too.
func VirtualMachineInstanceID(vmiName string) string {
	const maxLabelValue, hashLength = 63, 8
	if len(vmiName) <= maxLabelValue {
		return vmiName
	}
	sum := sha1.Sum([]byte(vmiName)) //nolint:gosec // an identifier, not a secret
	return vmiName[:maxLabelValue-hashLength-1] + "-" + hex.EncodeToString(sum[:])[:hashLength]
}

// The values of an instance type or preference matcher's inferFromVolumeFailurePolicy
// (KubeVirt's): Reject, the default, refuses a VM whose matcher cannot be inferred;
// Ignore drops the matcher instead.
const (
	RejectInferFromVolumeFailure = "Reject"
	IgnoreInferFromVolumeFailure = "Ignore"
)
