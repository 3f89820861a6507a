// Package v1beta1 holds the pool.kubevirt.io/v1beta1 API: VirtualMachinePool, a set of
// stateful VirtualMachines made from one template. JSON-compatible with KubeVirt's.
//
// +kubebuilder:object:generate=true
// +groupName=pool.kubevirt.io
package v1beta1
