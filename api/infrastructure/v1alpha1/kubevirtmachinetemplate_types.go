package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KubevirtMachineTemplateSpec defines the desired state of KubevirtMachineTemplate.
type KubevirtMachineTemplateSpec struct {
	Template KubevirtMachineTemplateResource `json:"template"`
}

// KubevirtMachineTemplateResource describes the data needed to create a KubevirtMachine
// from a template.
type KubevirtMachineTemplateResource struct {
	// Spec is the specification of the desired behavior of the machine.
	Spec KubevirtMachineSpec `json:"spec"`
}

// KubevirtMachineTemplateStatus defines the observed state of KubevirtMachineTemplate.
type KubevirtMachineTemplateStatus struct {
	// Capacity is the resources a machine of this template offers (cpu, memory), for
	// the cluster autoscaler's scaling from zero.
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`
}

// KubevirtMachineTemplate is the template MachineDeployments, MachineSets and
// KubeadmControlPlanes make KubevirtMachines from.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=kubevirtmachinetemplates,scope=Namespaced,categories=cluster-api
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1alpha1"
// +kubebuilder:printcolumn:name="CPU",type="string",JSONPath=".status.capacity.cpu",description="vCPUs of each machine"
// +kubebuilder:printcolumn:name="Memory",type="string",JSONPath=".status.capacity.memory",description="Memory of each machine"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type KubevirtMachineTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KubevirtMachineTemplateSpec   `json:"spec,omitempty"`
	Status KubevirtMachineTemplateStatus `json:"status,omitempty"`
}

// KubevirtMachineTemplateList contains a list of KubevirtMachineTemplate.
//
// +kubebuilder:object:root=true
type KubevirtMachineTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KubevirtMachineTemplate `json:"items"`
}
