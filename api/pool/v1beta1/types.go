package v1beta1

import (
	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"

	corev1 "github.com/hypernest/hypernest/api/core/v1"
)

// GroupName is the API group of VM pools.
const GroupName = "pool.kubevirt.io"

// SchemeGroupVersion is pool.kubevirt.io/v1beta1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1beta1"}

var (
	// SchemeBuilder registers the pool types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the pool types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion, &VirtualMachinePool{}, &VirtualMachinePoolList{})
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}

// VirtualMachinePool keeps a number of stateful VirtualMachines made from one template.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.labelSelector
// +kubebuilder:resource:shortName=vmpool;vmpools,categories=all
// +kubebuilder:printcolumn:name="Desired",type="integer",JSONPath=".spec.replicas",description="Number of desired VirtualMachines"
// +kubebuilder:printcolumn:name="Current",type="integer",JSONPath=".status.replicas",description="Number of managed and not final or deleted VirtualMachines"
// +kubebuilder:printcolumn:name="Ready",type="integer",JSONPath=".status.readyReplicas",description="Number of managed VirtualMachines which are ready to receive traffic"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type VirtualMachinePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the desired number of VMs and their template.
	Spec VirtualMachinePoolSpec `json:"spec"`
	// Status is the observed state.
	// +optional
	Status VirtualMachinePoolStatus `json:"status,omitempty"`
}

// VirtualMachinePoolList is a list of pools.
//
// +kubebuilder:object:root=true
type VirtualMachinePoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachinePool `json:"items"`
}

// VirtualMachineTemplateSpec is the VM a pool creates.
type VirtualMachineTemplateSpec struct {
	// ObjectMeta of the VMs.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +nullable
	// +optional
	ObjectMeta metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec of the VMs.
	// +optional
	Spec corev1.VirtualMachineSpec `json:"spec,omitempty"`
}

// VirtualMachinePoolSpec is the desired state of a pool.
type VirtualMachinePoolSpec struct {
	// Replicas is the number of VMs. Defaults to 1.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Replicas *int32 `json:"replicas,omitempty"`
	// Selector must match the template's labels.
	Selector *metav1.LabelSelector `json:"selector"`
	// VirtualMachineTemplate of the VMs.
	VirtualMachineTemplate *VirtualMachineTemplateSpec `json:"virtualMachineTemplate"`
	// Paused stops the controller from creating, updating or deleting VMs.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// NameGeneration appends each VM's index to the names it refers to.
	// +optional
	NameGeneration *VirtualMachinePoolNameGeneration `json:"nameGeneration,omitempty"`
	// MaxUnavailable VMs during an update. Defaults to 100%.
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
}

// VirtualMachinePoolNameGeneration appends VM indexes to referenced names.
type VirtualMachinePoolNameGeneration struct {
	// AppendIndexToConfigMapRefs makes each VM use <configmap>-<index>.
	// +optional
	AppendIndexToConfigMapRefs *bool `json:"appendIndexToConfigMapRefs,omitempty"`
	// AppendIndexToSecretRefs makes each VM use <secret>-<index>.
	// +optional
	AppendIndexToSecretRefs *bool `json:"appendIndexToSecretRefs,omitempty"`
}

// VirtualMachinePoolConditionType names a pool condition.
type VirtualMachinePoolConditionType string

const (
	// VirtualMachinePoolReplicaFailure is True when VMs cannot be created or deleted.
	VirtualMachinePoolReplicaFailure VirtualMachinePoolConditionType = "ReplicaFailure"
	// VirtualMachinePoolReplicaPaused is True while the pool is paused.
	VirtualMachinePoolReplicaPaused VirtualMachinePoolConditionType = "ReplicaPaused"
)

// VirtualMachinePoolCondition is one condition of a pool.
type VirtualMachinePoolCondition struct {
	// Type of the condition.
	Type VirtualMachinePoolConditionType `json:"type"`
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

// VirtualMachinePoolStatus is the observed state of a pool.
type VirtualMachinePoolStatus struct {
	// Replicas is the number of VMs the pool manages.
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// ReadyReplicas is the number of those that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// Conditions of the pool.
	// +optional
	// +listType=atomic
	Conditions []VirtualMachinePoolCondition `json:"conditions,omitempty"`
	// LabelSelector in string form, for the scale subresource.
	// +optional
	LabelSelector string `json:"labelSelector,omitempty"`
}
