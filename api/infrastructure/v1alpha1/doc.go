// Package v1alpha1 holds the infrastructure.cluster.x-k8s.io/v1alpha1 API of Hypernest's
// Cluster API infrastructure provider: KubevirtCluster, KubevirtMachine and their
// templates. JSON-compatible with cluster-api-provider-kubevirt (CAPK), so a CAPK cluster
// template applies unchanged; a KubevirtMachine embeds Hypernest's own kubevirt.io/v1
// VirtualMachineSpec. The provider implements Cluster API's v1beta2 contract.
//
// +kubebuilder:object:generate=true
// +groupName=infrastructure.cluster.x-k8s.io
package v1alpha1
