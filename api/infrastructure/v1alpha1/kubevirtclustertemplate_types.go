package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// KubevirtClusterTemplateResource describes the data needed to create a KubevirtCluster
// from a template.
type KubevirtClusterTemplateResource struct {
	// Standard object's metadata: labels and annotations for the KubevirtCluster.
	// +optional
	ObjectMeta clusterv1.ObjectMeta `json:"metadata,omitempty"`
	Spec       KubevirtClusterSpec  `json:"spec"`
}

// KubevirtClusterTemplateSpec defines the desired state of KubevirtClusterTemplate.
type KubevirtClusterTemplateSpec struct {
	Template KubevirtClusterTemplateResource `json:"template"`
}

// KubevirtClusterTemplate is the template ClusterClass makes KubevirtClusters from.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=kubevirtclustertemplates,scope=Namespaced,categories=cluster-api,shortName=kct
// +kubebuilder:storageversion
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1alpha1"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type KubevirtClusterTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="KubevirtClusterTemplate Spec is immutable"
	Spec KubevirtClusterTemplateSpec `json:"spec,omitempty"`
}

// KubevirtClusterTemplateList contains a list of KubevirtClusterTemplates.
//
// +kubebuilder:object:root=true
type KubevirtClusterTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KubevirtClusterTemplate `json:"items"`
}
