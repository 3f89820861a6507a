package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of KubeVirt's core resources.
const GroupName = "kubevirt.io"

// SchemeGroupVersion is kubevirt.io/v1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}

// Kinds, as they appear in apiVersion/kind and owner references.
var (
	VirtualMachineInstanceGroupVersionKind           = SchemeGroupVersion.WithKind("VirtualMachineInstance")
	VirtualMachineGroupVersionKind                   = SchemeGroupVersion.WithKind("VirtualMachine")
	VirtualMachineInstanceReplicaSetGroupVersionKind = SchemeGroupVersion.WithKind("VirtualMachineInstanceReplicaSet")
	KubeVirtGroupVersionKind                         = SchemeGroupVersion.WithKind("KubeVirt")
	VirtualMachineInstanceMigrationGroupVersionKind  = SchemeGroupVersion.WithKind("VirtualMachineInstanceMigration")
)

var (
	// SchemeBuilder registers the kubevirt.io/v1 types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the kubevirt.io/v1 types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Resource returns a GroupResource for the given resource name, e.g. "virtualmachines".
func Resource(resource string) schema.GroupResource {
	return SchemeGroupVersion.WithResource(resource).GroupResource()
}

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&VirtualMachineInstance{}, &VirtualMachineInstanceList{},
		&VirtualMachine{}, &VirtualMachineList{},
		&VirtualMachineInstanceReplicaSet{}, &VirtualMachineInstanceReplicaSetList{},
		&KubeVirt{}, &KubeVirtList{},
		&VirtualMachineInstanceMigration{}, &VirtualMachineInstanceMigrationList{},
	)
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}
