package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of the subresources virt-api serves.
const GroupName = "subresources.kubevirt.io"

// SchemeGroupVersion is subresources.kubevirt.io/v1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}

var (
	// SchemeBuilder registers the request bodies with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)
	// AddToScheme adds the request bodies to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(SchemeGroupVersion,
		&StartOptions{}, &StopOptions{}, &RestartOptions{}, &PauseOptions{}, &UnpauseOptions{},
		&MigrateOptions{}, &EvacuateCancelOptions{}, &BootstrapStatus{},
	)
	return nil
}

// StartOptions is the body of PUT .../virtualmachines/<name>/start.
//
// +kubebuilder:object:root=true
type StartOptions struct {
	metav1.TypeMeta `json:",inline"`
	// Paused starts the guest paused.
	// +optional
	Paused bool `json:"paused,omitempty"`
	// DryRun, when [All], validates the request without acting on it.
	// +optional
	DryRun []string `json:"dryRun,omitempty"`
}

// StopOptions is the body of PUT .../virtualmachines/<name>/stop.
//
// +kubebuilder:object:root=true
type StopOptions struct {
	metav1.TypeMeta `json:",inline"`
	// GracePeriod overrides the VMI's terminationGracePeriodSeconds for this stop; 0 with
	// force kills the guest at once.
	// +optional
	GracePeriod *int64 `json:"gracePeriod,omitempty"`
	// DryRun, when [All], validates the request without acting on it.
	// +optional
	DryRun []string `json:"dryRun,omitempty"`
}

// RestartOptions is the body of PUT .../virtualmachines/<name>/restart.
//
// +kubebuilder:object:root=true
type RestartOptions struct {
	metav1.TypeMeta `json:",inline"`
	// GracePeriodSeconds overrides the VMI's terminationGracePeriodSeconds for the stop
	// half of the restart.
	// +optional
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
	// DryRun, when [All], validates the request without acting on it.
	// +optional
	DryRun []string `json:"dryRun,omitempty"`
}

// MigrateOptions is the body of PUT .../virtualmachines/<name>/migrate.
//
// +kubebuilder:object:root=true
type MigrateOptions struct {
	metav1.TypeMeta `json:",inline"`
	// DryRun, when [All], validates the request without acting on it.
	// +optional
	DryRun []string `json:"dryRun,omitempty"`
	// AddedNodeSelector narrows the nodes the VM may move to, on top of its own node
	// selector (which wins where both name a key); it becomes the migration's
	// spec.addedNodeSelector.
	// +optional
	AddedNodeSelector map[string]string `json:"addedNodeSelector,omitempty"`
}

// EvacuateCancelOptions is the body of PUT .../virtualmachines/<name>/evacuate/cancel and
// .../virtualmachineinstances/<name>/evacuate/cancel, which clear the VMI's
// status.evacuationNodeName: no evacuation migration is made for it any more.
//
// +kubebuilder:object:root=true
type EvacuateCancelOptions struct {
	metav1.TypeMeta `json:",inline"`
	// DryRun, when [All], validates the request without acting on it.
	// +optional
	DryRun []string `json:"dryRun,omitempty"`
	// EvacuationNodeName is the node the caller saw the VMI evacuating from: the cancel
	// is refused when the VMI evacuates from another node by then. Empty cancels whatever
	// evacuation the VMI has (KubeVirt's virt-api refuses an empty name).
	EvacuationNodeName string `json:"evacuationNodeName"`
}

// PauseOptions is the body of PUT .../virtualmachineinstances/<name>/pause.
//
// +kubebuilder:object:root=true
type PauseOptions struct {
	metav1.TypeMeta `json:",inline"`
	// DryRun, when [All], validates the request without acting on it.
	// +optional
	DryRun []string `json:"dryRun,omitempty"`
}

// UnpauseOptions is the body of PUT .../virtualmachineinstances/<name>/unpause.
//
// +kubebuilder:object:root=true
type UnpauseOptions struct {
	metav1.TypeMeta `json:",inline"`
	// DryRun, when [All], validates the request without acting on it.
	// +optional
	DryRun []string `json:"dryRun,omitempty"`
}

// BootstrapSentinelPath is the file Cluster API's bootstrap providers write once a
// machine's bootstrap data has run successfully (its content: "success").
const BootstrapSentinelPath = "/run/cluster-api/bootstrap-success.complete"

// BootstrapStatus is the answer of GET .../virtualmachineinstances/<name>/bootstrapstatus:
// whether Cluster API's bootstrap sentinel file exists in the guest, read through the
// QEMU guest agent. Hypernest's own subresource (KubeVirt has none like it), behind the
// GuestAgentBootstrapCheck feature gate; the Cluster API provider's guest-agent
// bootstrap check asks it.
//
// +kubebuilder:object:root=true
type BootstrapStatus struct {
	metav1.TypeMeta `json:",inline"`
	// SentinelPath is the file looked for: /run/cluster-api/bootstrap-success.complete.
	SentinelPath string `json:"sentinelPath"`
	// Succeeded is true when the file exists and says "success".
	Succeeded bool `json:"succeeded"`
	// Message says what was found when Succeeded is false.
	// +optional
	Message string `json:"message,omitempty"`
}
