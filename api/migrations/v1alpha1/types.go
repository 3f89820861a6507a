package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of migration policies.
const GroupName = "migrations.kubevirt.io"

// SchemeGroupVersion is migrations.kubevirt.io/v1alpha1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

var (
	// SchemeBuilder registers the migration policy types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the migration policy types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion, &MigrationPolicy{}, &MigrationPolicyList{})
	metav1.AddToGroupVersion(scheme, SchemeGroupVersion)
	return nil
}

// MigrationPolicy sets how the live migrations of the VMIs it selects run. When several
// select a VMI, the one matching the most labels applies.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster
type MigrationPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec selects VMIs and sets their migrations.
	Spec MigrationPolicySpec `json:"spec"`
	// Status is empty, as KubeVirt's.
	// +optional
	// +nullable
	Status MigrationPolicyStatus `json:"status,omitempty"`
}

// MigrationPolicySpec: the selectors and the settings; a setting left out is the
// cluster's.
type MigrationPolicySpec struct {
	// Selectors choose the VMIs; a policy without them selects none.
	Selectors *Selectors `json:"selectors"`
	// AllowAutoConverge lets the hypervisor slow the guest's vCPUs so a migration ends.
	// +optional
	AllowAutoConverge *bool `json:"allowAutoConverge,omitempty"`
	// BandwidthPerMigration caps each migration's transfer rate (bytes per second, whole
	// MiB/s applied); 0 means no cap.
	// +optional
	BandwidthPerMigration *resource.Quantity `json:"bandwidthPerMigration,omitempty"`
	// CompletionTimeoutPerGiB is the seconds a migration may take per GiB of guest memory.
	// +optional
	CompletionTimeoutPerGiB *int64 `json:"completionTimeoutPerGiB,omitempty"`
	// MaxDowntimeMs is the longest pause of the guest the switch-over may take.
	// Not supported by Hypernest yet (virt-api refuses it).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=2000000
	MaxDowntimeMs *uint64 `json:"maxDowntimeMs,omitempty"`
	// AllowPostCopy lets a migration that runs out of time switch to post-copy.
	// Not supported by Hypernest yet (virt-api refuses true).
	// +optional
	AllowPostCopy *bool `json:"allowPostCopy,omitempty"`
	// AllowWorkloadDisruption lets a migration that runs out of time pause the guest or
	// switch to post-copy instead of aborting. Not supported by Hypernest yet (virt-api
	// refuses true).
	// +optional
	AllowWorkloadDisruption *bool `json:"allowWorkloadDisruption,omitempty"`
}

// LabelSelector is a set of labels that must all be present with these values (not a
// Kubernetes label selector, as in KubeVirt).
type LabelSelector map[string]string

// Selectors choose the VMIs a policy applies to.
type Selectors struct {
	// NamespaceSelector: labels the VMI's namespace must carry.
	// +optional
	NamespaceSelector LabelSelector `json:"namespaceSelector,omitempty"`
	// VirtualMachineInstanceSelector: labels the VMI must carry.
	// +optional
	VirtualMachineInstanceSelector LabelSelector `json:"virtualMachineInstanceSelector,omitempty"`
}

// MigrationPolicyStatus is empty.
type MigrationPolicyStatus struct{}

// MigrationPolicyList is a list of migration policies.
//
// +kubebuilder:object:root=true
type MigrationPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MigrationPolicy `json:"items"`
}
