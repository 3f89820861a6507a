package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// MachineFinalizer keeps a KubevirtMachine until its VirtualMachine and bootstrap
// Secret are gone.
const MachineFinalizer = "kubevirtmachine.infrastructure.cluster.x-k8s.io"

// Bootstrap check strategies: how the provider learns that the bootstrap data ran in the
// guest (Cluster API's sentinel file /run/cluster-api/bootstrap-success.complete).
const (
	// BootstrapCheckNone does not check: the machine is provisioned once its VMI is Ready.
	BootstrapCheckNone = "none"
	// BootstrapCheckSSH reads the sentinel over SSH as the "capk" user, whose key the
	// provider adds to cloud-config bootstrap data (CAPK's default).
	BootstrapCheckSSH = "ssh"
	// BootstrapCheckGuestAgent reads the sentinel through the QEMU guest agent: no SSH, no
	// extra user in the guest, no network path from the provider to the VM. Hypernest's
	// own; it needs the GuestAgentBootstrapCheck feature gate in the KubeVirt object.
	BootstrapCheckGuestAgent = "guest-agent"
)

// BootstrapSentinelPath is the file Cluster API's bootstrap providers write once the
// bootstrap data has run successfully.
const BootstrapSentinelPath = subresourcesv1.BootstrapSentinelPath

// VirtualMachineTemplateSpec defines the desired state of the kubevirt VM.
type VirtualMachineTemplateSpec struct {
	// Metadata of the VirtualMachine: its labels and annotations (and, with an external
	// infrastructure cluster, its namespace).
	// +kubebuilder:pruning:PreserveUnknownFields
	// +nullable
	// +optional
	ObjectMeta metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the VirtualMachine's specification (kubevirt.io/v1 VirtualMachineSpec).
	Spec kubevirtv1.VirtualMachineSpec `json:"spec,omitempty"`
}

// KubevirtMachineSpec defines the desired state of KubevirtMachine.
type KubevirtMachineSpec struct {
	// VirtualMachineTemplate is the VirtualMachine the machine runs as. The provider adds
	// the machine's bootstrap data as a cloud-init volume, its labels and its hostname.
	VirtualMachineTemplate VirtualMachineTemplateSpec `json:"virtualMachineTemplate,omitempty"`

	// ProviderID is the machine's identity in the nested cluster's nodes
	// ("kubevirt://<name>"); the provider sets it.
	// +optional
	ProviderID *string `json:"providerID,omitempty"`

	// BootstrapCheckSpec defines how the provider checks Cluster API's sentinel file in
	// the VM.
	// +optional
	BootstrapCheckSpec VirtualMachineBootstrapCheckSpec `json:"virtualMachineBootstrapCheck,omitempty"`

	// InfraClusterSecretRef references a Secret with the kubeconfig of an external
	// infrastructure cluster. When nil, the KubevirtCluster's is used.
	// +optional
	InfraClusterSecretRef *corev1.ObjectReference `json:"infraClusterSecretRef,omitempty"`
}

// VirtualMachineBootstrapCheckSpec defines how the provider checks that the bootstrap
// data ran in the guest.
type VirtualMachineBootstrapCheckSpec struct {
	// CheckStrategy is how the provider reads Cluster API's sentinel file from the VM:
	// "none", "ssh" (the default, as in CAPK) or "guest-agent" (through the QEMU guest
	// agent; needs the GuestAgentBootstrapCheck feature gate).
	// +kubebuilder:validation:Enum=none;ssh;guest-agent
	// +kubebuilder:default:=ssh
	// +optional
	CheckStrategy string `json:"checkStrategy,omitempty"`
}

// KubevirtMachineInitializationStatus holds the Cluster API v1beta2 contract's
// initialization fields.
type KubevirtMachineInitializationStatus struct {
	// Provisioned is true once the VM runs and its bootstrap check passed.
	// +optional
	Provisioned *bool `json:"provisioned,omitempty"`
}

// KubevirtMachineStatus defines the observed state of KubevirtMachine.
type KubevirtMachineStatus struct {
	// Ready denotes that the machine is ready (the v1beta1 contract's field).
	// +kubebuilder:default=false
	Ready bool `json:"ready"`

	// Initialization holds the v1beta2 contract's initialization fields.
	// +optional
	Initialization *KubevirtMachineInitializationStatus `json:"initialization,omitempty"`

	// LoadBalancerConfigured denotes that the machine has been added to the load
	// balancer.
	// +optional
	LoadBalancerConfigured bool `json:"loadBalancerConfigured,omitempty"`

	// Addresses are the machine's addresses, from its VMI.
	// +optional
	Addresses []clusterv1.MachineAddress `json:"addresses,omitempty"`

	// Conditions defines the current state of the KubevirtMachine: Ready, VMProvisioned
	// and BootstrapExecSucceeded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// NodeUpdated denotes that the ProviderID is set on the nested cluster's Node.
	// +optional
	NodeUpdated bool `json:"nodeupdated"`

	// FailureReason is set when reconciling the machine hit a terminal problem that needs
	// a person (a VM deleted or stopped behind the provider's back, say), in a short
	// form for machines.
	// +optional
	FailureReason *string `json:"failureReason,omitempty"`

	// FailureMessage is that problem for people.
	// +optional
	FailureMessage *string `json:"failureMessage,omitempty"`
}

// KubevirtMachine is one Cluster API machine on Hypernest: a VirtualMachine carrying the
// machine's bootstrap data.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=kubevirtmachines,scope=Namespaced,categories=cluster-api
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1alpha1"
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Cluster this machine belongs to"
// +kubebuilder:printcolumn:name="ProviderID",type="string",JSONPath=".spec.providerID",description="The machine's provider ID"
// +kubebuilder:printcolumn:name="Provisioned",type="boolean",JSONPath=".status.initialization.provisioned",description="The VM runs and its bootstrap check passed"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Ready",type="boolean",JSONPath=".status.ready",description="Is machine ready",priority=1
type KubevirtMachine struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KubevirtMachineSpec   `json:"spec,omitempty"`
	Status KubevirtMachineStatus `json:"status,omitempty"`
}

// GetConditions returns the conditions (Cluster API's conditions library uses it).
func (m *KubevirtMachine) GetConditions() []metav1.Condition { return m.Status.Conditions }

// SetConditions sets the conditions.
func (m *KubevirtMachine) SetConditions(conditions []metav1.Condition) {
	m.Status.Conditions = conditions
}

// KubevirtMachineList contains a list of KubevirtMachine.
//
// +kubebuilder:object:root=true
type KubevirtMachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KubevirtMachine `json:"items"`
}
