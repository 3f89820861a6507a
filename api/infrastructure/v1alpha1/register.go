package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of Cluster API infrastructure providers.
const GroupName = "infrastructure.cluster.x-k8s.io"

// SchemeGroupVersion is infrastructure.cluster.x-k8s.io/v1alpha1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

// GroupVersion is SchemeGroupVersion under the name Cluster API's libraries use.
var GroupVersion = SchemeGroupVersion

var (
	// SchemeBuilder registers the provider's types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the provider's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&KubevirtCluster{}, &KubevirtClusterList{},
		&KubevirtClusterTemplate{}, &KubevirtClusterTemplateList{},
		&KubevirtMachine{}, &KubevirtMachineList{},
		&KubevirtMachineTemplate{}, &KubevirtMachineTemplateList{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
