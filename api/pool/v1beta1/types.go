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
	// ScaleInStrategy says which VMs go when the pool shrinks. Defaults to proactive
	// with a random choice.
	// +optional
	ScaleInStrategy *VirtualMachinePoolScaleInStrategy `json:"scaleInStrategy,omitempty"`
	// UpdateStrategy says how VMs follow a changed template. Defaults to proactive.
	// +optional
	UpdateStrategy *VirtualMachinePoolUpdateStrategy `json:"updateStrategy,omitempty"`
	// Autohealing replaces VMs that keep failing to start: deleted, then made again
	// under the same name.
	// +optional
	Autohealing *VirtualMachinePoolAutohealingStrategy `json:"autohealing,omitempty"`
}

// VirtualMachinePoolScaleInStrategy: set at most one.
type VirtualMachinePoolScaleInStrategy struct {
	// Unmanaged: the pool never deletes VMs to shrink; remove them yourself.
	// +optional
	Unmanaged *VirtualMachinePoolUnmanagedStrategy `json:"unmanaged,omitempty"`
	// Opportunistic: the pool shrinks only as VMs are deleted by someone else.
	// +optional
	Opportunistic *VirtualMachinePoolOpportunisticScaleInStrategy `json:"opportunistic,omitempty"`
	// Proactive: the pool deletes VMs chosen by the selection policy.
	// +optional
	Proactive *VirtualMachinePoolProactiveScaleInStrategy `json:"proactive,omitempty"`
}

// VirtualMachinePoolUnmanagedStrategy leaves the VMs alone.
type VirtualMachinePoolUnmanagedStrategy struct{}

// VirtualMachinePoolOpportunisticScaleInStrategy shrinks as VMs go.
type VirtualMachinePoolOpportunisticScaleInStrategy struct {
	// StatePreservation keeps a removed VM's volumes.
	// +optional
	StatePreservation *StatePreservation `json:"statePreservation,omitempty"`
}

// VirtualMachinePoolProactiveScaleInStrategy deletes the VMs the policy picks.
type VirtualMachinePoolProactiveScaleInStrategy struct {
	// SelectionPolicy picks the VMs to delete.
	// +optional
	SelectionPolicy *VirtualMachinePoolSelectionPolicy `json:"selectionPolicy,omitempty"`
	// StatePreservation keeps a removed VM's volumes.
	// +optional
	StatePreservation *StatePreservation `json:"statePreservation,omitempty"`
}

// StatePreservation: whether a VM removed by scale-in keeps its volumes.
// +kubebuilder:validation:Enum=Disabled;Offline;Online
type StatePreservation string

const (
	// StatePreservationDisabled deletes a removed VM's volumes with it.
	StatePreservationDisabled StatePreservation = "Disabled"
	// StatePreservationOffline keeps them.
	StatePreservationOffline StatePreservation = "Offline"
	// StatePreservationOnline keeps them (as Offline).
	StatePreservationOnline StatePreservation = "Online"
)

// VirtualMachinePoolUpdateStrategy: set at most one.
type VirtualMachinePoolUpdateStrategy struct {
	// Unmanaged: VMs keep the template they were made from.
	// +optional
	Unmanaged *VirtualMachinePoolUnmanagedStrategy `json:"unmanaged,omitempty"`
	// Opportunistic: VMs take the new template; running guests get it at their next
	// start.
	// +optional
	Opportunistic *VirtualMachinePoolOpportunisticUpdateStrategy `json:"opportunistic,omitempty"`
	// Proactive: VMs take the new template and running guests are restarted to get it,
	// maxUnavailable at a time.
	// +optional
	Proactive *VirtualMachinePoolProactiveUpdateStrategy `json:"proactive,omitempty"`
}

// VirtualMachinePoolOpportunisticUpdateStrategy updates VMs without restarting them.
type VirtualMachinePoolOpportunisticUpdateStrategy struct{}

// VirtualMachinePoolProactiveUpdateStrategy restarts VMs to update them.
type VirtualMachinePoolProactiveUpdateStrategy struct {
	// SelectionPolicy picks and orders the VMs to update.
	// +optional
	SelectionPolicy *VirtualMachinePoolSelectionPolicy `json:"selectionPolicy,omitempty"`
}

// VirtualMachinePoolSelectionPolicy picks VMs: selectors filter, sortPolicy orders.
type VirtualMachinePoolSelectionPolicy struct {
	// Selectors limit the VMs considered.
	// +optional
	Selectors *VirtualMachinePoolSelectors `json:"selectors,omitempty"`
	// SortPolicy orders them. Defaults to Random.
	// +optional
	SortPolicy *VirtualMachinePoolSortPolicy `json:"sortPolicy,omitempty"`
}

// VirtualMachinePoolSelectors match a VM's template.
type VirtualMachinePoolSelectors struct {
	// LabelSelector matches spec.template.metadata.labels of the VMs.
	// +optional
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// NodeSelectorRequirementMatcher matches spec.template.spec.nodeSelector of the VMs.
	// +optional
	NodeSelectorRequirementMatcher *[]k8sv1.NodeSelectorRequirement `json:"nodeSelectorRequirementMatcher,omitempty"`
}

// VirtualMachinePoolSortPolicy orders VMs for scale-in or update.
// +kubebuilder:validation:Enum=AscendingOrder;DescendingOrder;Newest;Oldest;Random
type VirtualMachinePoolSortPolicy string

const (
	// VirtualMachinePoolSortAscendingOrder takes the lowest index first.
	VirtualMachinePoolSortAscendingOrder VirtualMachinePoolSortPolicy = "AscendingOrder"
	// VirtualMachinePoolSortDescendingOrder takes the highest index first.
	VirtualMachinePoolSortDescendingOrder VirtualMachinePoolSortPolicy = "DescendingOrder"
	// VirtualMachinePoolSortNewest takes the newest VM first.
	VirtualMachinePoolSortNewest VirtualMachinePoolSortPolicy = "Newest"
	// VirtualMachinePoolSortOldest takes the oldest VM first.
	VirtualMachinePoolSortOldest VirtualMachinePoolSortPolicy = "Oldest"
	// VirtualMachinePoolSortRandom takes VMs in random order.
	VirtualMachinePoolSortRandom VirtualMachinePoolSortPolicy = "Random"
)

// VirtualMachinePoolAutohealingStrategy replaces VMs that fail to start.
type VirtualMachinePoolAutohealingStrategy struct {
	// StartUpFailureThreshold is the failed starts in a row after which a VM is
	// replaced. Defaults to 3.
	// +optional
	// +kubebuilder:validation:Minimum=1
	StartUpFailureThreshold *uint32 `json:"startUpFailureThreshold,omitempty"`
	// MinFailingToStartDuration a VM must fail to start for (crash loop, unschedulable,
	// image or volume errors) before it is replaced. Defaults to 5m.
	// +optional
	MinFailingToStartDuration *metav1.Duration `json:"minFailingToStartDuration,omitempty"`
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

// VirtualMachinePoolKind is the pool's kind.
const VirtualMachinePoolKind = "VirtualMachinePool"

// VirtualMachinePoolGroupVersionKind is the pool's GroupVersionKind, for owner references.
var VirtualMachinePoolGroupVersionKind = SchemeGroupVersion.WithKind(VirtualMachinePoolKind)

// VirtualMachinePoolRevisionNameLabel is on a pool's VMs and their VMIs: the
// ControllerRevision (<pool>-<generation>) of the pool spec they were made from.
const VirtualMachinePoolRevisionNameLabel = "kubevirt.io/vm-pool-revision-name"
