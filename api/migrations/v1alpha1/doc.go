// Package v1alpha1 holds the migrations.kubevirt.io/v1alpha1 API: MigrationPolicy, the
// migration settings that apply to the VMIs it selects in place of the cluster's
// (spec.configuration.migrations of the KubeVirt object). JSON-compatible with KubeVirt's.
//
// +kubebuilder:object:generate=true
// +groupName=migrations.kubevirt.io
package v1alpha1
